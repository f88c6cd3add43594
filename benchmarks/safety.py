"""Safety benchmark: how well and how fast `flywheel.safety.check_input` decides, on the labelled set.

    .venv/bin/python benchmarks/safety.py                 # dev and held-out splits
    .venv/bin/python benchmarks/safety.py --split heldout
    .venv/bin/python benchmarks/safety.py --split blind   # data/blind.jsonl, written by someone else (if present)
    .venv/bin/python benchmarks/safety.py --split unseen  # the authored voices the shipped classifier was not fitted on
    .venv/bin/python benchmarks/safety.py --split polyglot  # one of them alone: any authored voice by its name
    .venv/bin/python benchmarks/safety.py --split dev --prompts src/flywheel/safety/data/checks/fresh2.txt
    .venv/bin/python benchmarks/safety.py --split dev --errors    # list the dev split's mistakes

Prints, per split: precision, recall, F1 and false-positive rate per moderation category (over the
harmful and benign examples; a sub-category's gold label implies its parent's) and for the attack
detector (attacks against benign examples); the block rate of attacks + harmful prompts (goal
>= 95%) and of benign prompts (goal <= 3%); p50/p99 decision time of one `check_input` call with the
analysis cache cleared (goal p99 <= 2 ms; the classifier's per-word cache stays warm, as in a warm
Lambda, unless --cold-words is given). The same numbers are printed for a naive keyword blocklist
measured in the same run, as the baseline the rules and classifier have to beat.

The held-out split is never used to write rules or train the classifier; `--errors` refuses to list
its mistakes unless `--show-heldout` is given too, so that looking at it stays a deliberate act.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

from flywheel.safety import CATEGORIES, check_input, classifier
from flywheel.safety.scoring import analyse
from flywheel.safety.taxonomy import PARENT
from flywheel.safety.train_classifier import LEFT_OUT

DATA = Path(__file__).resolve().parents[1] / "src" / "flywheel" / "safety" / "data"
SPLITS = {"dev": DATA / "devset.jsonl", "heldout": DATA / "heldout.jsonl"}
# Splits measured only when asked by name (`--split blind`): a set written by someone else, kept out
# of `all` so that nobody looks at it by accident; it may be absent.
OPTIONAL_SPLITS = {"blind": DATA / "blind.jsonl", "blind2": DATA / "blind2.jsonl"}
# Training data the shipped classifier is fitted without (train_classifier.LEFT_OUT): voices it has
# never seen, so a measure too, but one written to the training brief rather than by an outsider.
UNSEEN = tuple(DATA / "authored" / f"{voice}.jsonl" for voice in LEFT_OUT)
# Any one authored voice, by its name (`--split polyglot`); trained on unless it is in LEFT_OUT.
VOICES = {path.stem: path for path in sorted((DATA / "authored").glob("*.jsonl"))}
# The baseline: a blocklist of the words a first attempt at a filter would use.
BASELINE = re.compile(r"\b(?:kill|murder|bomb|shoot|stab|poison|suicide|die|hack|steal|meth|drugs?|gun|"
                      r"sex|naked|porn|hate|ignore|jailbreak|nazi|racist|cut myself|rape|weapon|attack)\w*",
                      re.IGNORECASE)


def load(split: str) -> list[dict]:
    paths = UNSEEN if split == "unseen" else [{**SPLITS, **OPTIONAL_SPLITS, **VOICES}[split]]
    rows = []
    for path in paths:
        if not path.exists():
            raise SystemExit(f"no {split} split: {path} does not exist")
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return rows


def gold_categories(row: dict) -> set[str]:
    cats = set(row["categories"])
    return cats | {PARENT[c] for c in cats if c in PARENT}


def prf(tp: int, fp: int, fn: int, tn: int) -> tuple[float, float, float, float]:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if tp else 0.0
    fpr = fp / (fp + tn) if fp + tn else float("nan")
    return p, r, f, fpr


def evaluate(rows: list[dict], repeats: int, cold_words: bool = False) -> dict:
    verdicts, times, raw, cpu = [], [], [], []
    check_input([{"role": "user", "content": "warm up the compiled rules"}])
    model = classifier._model()
    for row in rows:
        messages = [{"role": "user", "content": row["text"]}]
        samples, cpu_samples = [], []
        for _ in range(repeats):
            analyse.cache_clear()  # time the whole analysis, not a cache hit
            if cold_words and model is not None:
                # The classifier keeps each word's summed weights (a warm Lambda keeps them across
                # requests); --cold-words times every word as if never seen before.
                model.word_cache.clear()
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            verdict = check_input(messages)
            cpu_samples.append((time.thread_time_ns() - c0) / 1e6)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        # The median of a few runs per text: the machine is shared, and a single run's time is as
        # much the scheduler's as ours. The raw samples' p99 is printed too.
        times.append(statistics.median(samples))
        cpu.append(statistics.median(cpu_samples))
        raw += samples
        verdicts.append(verdict)
    base_times, base = [], []
    for row in rows:
        t0 = time.perf_counter_ns()
        base.append(bool(BASELINE.search(row["text"])))
        base_times.append((time.perf_counter_ns() - t0) / 1e6)
    return {"verdicts": verdicts, "times": times, "raw_times": raw, "cpu_times": cpu, "baseline": base,
            "baseline_times": base_times}


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def report(split: str, rows: list[dict], res: dict, errors: bool) -> dict:
    verdicts = res["verdicts"]
    print(f"\n== {split}: {len(rows)} examples "
          f"({sum(r['label'] == 'harmful' for r in rows)} harmful, {sum(r['label'] == 'attack' for r in rows)} "
          f"attacks, {sum(r['label'] == 'benign' for r in rows)} benign)")
    print(f"{'category':<24}{'n':>4}{'prec':>7}{'recall':>7}{'F1':>7}{'FPR':>7}")
    judged = [(r, v) for r, v in zip(rows, verdicts) if r["label"] in ("harmful", "benign")]
    for c in CATEGORIES:
        tp = fp = fn = tn = 0
        for r, v in judged:
            gold, pred = c in gold_categories(r), v.moderation.categories[c]
            tp += gold and pred
            fp += pred and not gold
            fn += gold and not pred
            tn += not gold and not pred
        p, rc, f, fpr = prf(tp, fp, fn, tn)
        print(f"{c:<24}{tp + fn:>4}{p:>7.2f}{rc:>7.2f}{f:>7.2f}{fpr:>7.3f}")
    atk = [(r, v) for r, v in zip(rows, verdicts) if r["label"] in ("attack", "benign")]
    tp = sum(r["label"] == "attack" and v.attack is not None for r, v in atk)
    fp = sum(r["label"] == "benign" and v.attack is not None for r, v in atk)
    fn = sum(r["label"] == "attack" and v.attack is None for r, v in atk)
    tn = sum(r["label"] == "benign" and v.attack is None for r, v in atk)
    p, rc, f, fpr = prf(tp, fp, fn, tn)
    print(f"{'prompt attack':<24}{tp + fn:>4}{p:>7.2f}{rc:>7.2f}{f:>7.2f}{fpr:>7.3f}")

    bad = [v.blocked for r, v in zip(rows, verdicts) if r["label"] != "benign"]
    good = [v.blocked for r, v in zip(rows, verdicts) if r["label"] == "benign"]
    bad_b = [b for r, b in zip(rows, res["baseline"]) if r["label"] != "benign"]
    good_b = [b for r, b in zip(rows, res["baseline"]) if r["label"] == "benign"]
    out = {"split": split, "n": len(rows),
           "harmful_attack_block_rate": sum(bad) / len(bad), "benign_block_rate": sum(good) / len(good),
           "p50_ms": pct(res["times"], 50), "p99_ms": pct(res["times"], 99),
           "p99_ms_raw": pct(res["raw_times"], 99),
           "cpu_p50_ms": pct(res["cpu_times"], 50), "cpu_p99_ms": pct(res["cpu_times"], 99),
           "baseline_harmful_attack_block_rate": sum(bad_b) / len(bad_b),
           "baseline_benign_block_rate": sum(good_b) / len(good_b),
           "baseline_p99_ms": pct(res["baseline_times"], 99)}
    print(f"attack+harmful blocked : {out['harmful_attack_block_rate']:6.1%}  (goal >= 95%; "
          f"keyword baseline {out['baseline_harmful_attack_block_rate']:.1%})")
    print(f"benign blocked         : {out['benign_block_rate']:6.1%}  (goal <= 3%; "
          f"keyword baseline {out['baseline_benign_block_rate']:.1%})")
    print(f"decision time          : p50 {out['p50_ms']:.3f} ms, p99 {out['p99_ms']:.3f} ms "
          f"(goal p99 <= 2 ms: {out['p99_ms'] / 2.0:.2f}x the budget; keyword baseline p99 "
          f"{out['baseline_p99_ms']:.4f} ms, ours {out['p99_ms'] / max(out['baseline_p99_ms'], 1e-9):.0f}x it)")
    print(f"                         per-text median of {len(res['raw_times']) // len(rows)} runs; "
          f"p99 over every single run {out['p99_ms_raw']:.3f} ms")
    print(f"CPU time of a decision   : p50 {out['cpu_p50_ms']:.3f} ms, p99 {out['cpu_p99_ms']:.3f} ms "
          f"(this thread's CPU time: what the decision costs when the machine is not shared)")
    if errors:
        print("-- mistakes")
        for r, v in zip(rows, verdicts):
            wrong = v.blocked != (r["label"] != "benign")
            cats = gold_categories(r)
            miss = r["label"] == "harmful" and not cats <= set(v.moderation.flagged_categories)
            if wrong or miss:
                print(f"  [{r['label']}{'/' + ','.join(r['categories']) if r['categories'] else ''}"
                      f"{'/' + r['attack'] if r['attack'] else ''}] blocked={v.blocked} "
                      f"pred={v.categories} attack={v.attack} :: {r['text'][:110]}")
    return out


def prompts_check(path: Path) -> None:
    """Block rates on a hand-written `label|category-or-kind|text` file (e.g. data/checks/fresh2.txt)."""
    rows = [line.split("|", 2) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [check_input([{"role": "user", "content": text}]).blocked for label, _, text in rows if label != "benign"]
    good = [check_input([{"role": "user", "content": text}]).blocked for label, _, text in rows if label == "benign"]
    print(f"\n== {path.name}: {len(rows)} prompts")
    print(f"attack+harmful blocked : {sum(bad)}/{len(bad)} ({sum(bad) / max(1, len(bad)):.1%})")
    print(f"benign blocked         : {sum(good)}/{len(good)} ({sum(good) / max(1, len(good)):.1%})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=[*SPLITS, *OPTIONAL_SPLITS, "unseen", *VOICES, "all"], default="all",
                    help="all = dev and heldout; blind, blind2, unseen and single authored voices "
                         "are measured only when named")
    ap.add_argument("--errors", action="store_true", help="list the mistakes (dev split)")
    ap.add_argument("--show-heldout", action="store_true", help="with --errors, list held-out mistakes too")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per example (median taken)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--cold-words", action="store_true",
                    help="clear the classifier's per-word cache before every timed run (worst case)")
    ap.add_argument("--prompts", type=Path, help="also measure a label|kind|text file (block rates only)")
    args = ap.parse_args(argv)
    # Timing on a shared machine: say how busy it was, so a p99 can be read against it.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = []
    for split in (SPLITS if args.split == "all" else [args.split]):
        rows = load(split)
        res = evaluate(rows, args.repeats, args.cold_words)
        # Mistakes of any split but dev are listed only with --show-heldout (held-out and blind alike).
        show = args.errors and (split == "dev" or args.show_heldout)
        results.append(report(split, rows, res, show))
    if args.prompts:
        prompts_check(args.prompts)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
