"""Does one preference round make a better model, by more than run-to-run noise? Measured over seeds.

Each seed runs one whole round with the project's own entry points, in-process:

1. champion: the training job (`flywheel.training.job`) fine-tunes a debug-preset GPT on synthetic chats
   (`flywheel.feedback.synthetic`, the same ones `flywheel turn` uses) in which 30% of answers are warm
   ("Glad you asked! ... Hope this helps.") and 70% curt;
2. users: the champion samples two answers (temperature 1) to each of the round's prompts; simulated
   users (`flywheel.feedback.users`: prefer the warmer answer, ties give no feedback) pick one, logged as
   interaction + feedback records in the API's shape;
3. preferences: `build_preferences` joins them into pairs (20% of prompts held out);
4. challenger: the preference job (`flywheel.feedback.tuning`, DPO with the champion as reference);
5. evaluation: the evaluation job (`flywheel.feedback.evaluation`) on prompts about subjects the round
   never saw, judged by the same users' rule, with the gate.

The baseline, measured in the same run from the same champion and the same sampled answers: a **null
round** in which the users' picks are coin flips. Its win rates show what noise alone produces; the real
round must beat it by a margin larger than the spread across seeds.

    .venv/bin/python benchmarks/preference_rounds.py --seeds 3            # ~1-2 minutes a seed on 2 cores
    .venv/bin/python benchmarks/preference_rounds.py --seeds 3 --out runs/bench-prefs

Prints one line per seed and the summary: mean win rate of the real and null rounds, their standard
deviations across seeds, the margin (real - null), the noise (the larger of those deviations and the
binomial error of one win rate over the evaluation's prompts) and the ratio margin / noise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pandas as pd
import torch

from flywheel.data.shards import write_channel
from flywheel.feedback import evaluation, tuning, users
from flywheel.feedback.channel import write_pair_channel
from flywheel.feedback.preferences import build_preferences
from flywheel.feedback.synthetic import EVAL_SUBJECTS, ROUND_SUBJECTS, prompts_for, sft_chats
from flywheel.model.artifact import load_artifact
from flywheel.model.sample import generate
from flywheel.model.tokenizer import ChatTokenizer
from flywheel.training import job as train_job


def quiet(fn, *args):
    """Run an entry point, keeping its log lines; raise if it fails."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = fn(*args)
    if code != 0:
        raise RuntimeError(f"{fn.__module__} exited {code}:\n{buf.getvalue()[-2000:]}")
    return buf.getvalue()


def train_champion(work: Path, seed: int, steps: int) -> Path:
    rng = random.Random(seed)
    chats = sft_chats(rng, copies=6)
    texts = [m["content"] for c in chats for m in c]
    tok = ChatTokenizer.train(texts, vocab_size=512)
    docs = [tok.encode_chat(c) for c in chats]
    cut = len(docs) * 9 // 10
    write_channel(work / "sft", tok, {"train": docs[:cut], "val": docs[cut:]}, kind="sft",
                  data_version=f"synthetic-chats-{seed}")
    quiet(train_job.main, ["--preset", "debug", "--max-steps", str(steps), "--batch-size", "16", "--lr", "3e-3",
                           "--warmup-steps", "10", "--seed", str(seed), "--eval-every", "0", "--device", "cpu",
                           "--train-dir", str(work / "sft"), "--model-dir", str(work / "champion"),
                           "--output-data-dir", str(work / "champion-out"),
                           "--checkpoint-dir", str(work / "champion-ckpt"), "--checkpoint-every", "0",
                           "--failure-file", str(work / "failure")])
    return work / "champion"


def sample_round(champion: Path, seed: int, max_tokens: int) -> pd.DataFrame:
    """Two sampled answers per round prompt, twice: the interactions the API would log."""
    art = load_artifact(champion)
    rows = []
    for k, prompt in enumerate(prompts_for(ROUND_SUBJECTS) * 2):
        messages = [{"role": "user", "content": prompt}]
        ids, _ = art.tokenizer.encode_chat(messages, add_generation_prompt=True)
        choices = [art.tokenizer.decode(generate(art, ids, max_tokens, temperature=1.0, seed=seed * 10_000 + 2 * k + j))
                   for j in range(2)]
        rows.append({"completion_id": f"cmpl-{seed}-{k}", "request_id": f"req-{seed}-{k}", "messages": messages,
                     "choices": choices, "model_version": art.version})
    return pd.DataFrame(rows)


def run_round(work: Path, name: str, champion: Path, interactions: pd.DataFrame, feedback: list[dict],
              seed: int, args) -> dict:
    prefs = build_preferences(interactions, pd.DataFrame(feedback), heldout_fraction=0.2, salt=str(seed))
    write_pair_channel(work / f"{name}-prefs", prefs)
    quiet(tuning.main, ["--objective", "dpo", "--init-from", str(champion), "--train-dir", str(work / f"{name}-prefs"),
                        "--model-dir", str(work / f"{name}-challenger"), "--output-data-dir", str(work / f"{name}-out"),
                        "--checkpoint-dir", str(work / f"{name}-ckpt"), "--checkpoint-every", "0",
                        "--failure-file", str(work / "failure"), "--max-steps", str(args.dpo_steps),
                        "--batch-size", "8", "--lr", str(args.dpo_lr), "--beta", "0.1", "--seed", str(seed),
                        "--rpo-alpha", str(args.rpo_alpha),
                        "--device", "cpu"])
    prompts_file = work / "eval-prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts_for(EVAL_SUBJECTS)))
    quiet(evaluation.main, ["--model", str(work / f"{name}-challenger"), "--champion", str(champion),
                            "--preferences", str(work / f"{name}-prefs"), "--prompts", str(prompts_file),
                            "--judge", "flywheel.feedback.users:judge", "--red-team-limit", str(args.red_team),
                            "--max-new-tokens", str(args.max_tokens), "--output", str(work / f"{name}-eval"),
                            "--gate-config", json.dumps({"min_comparisons": 16, "max_loss_regression": 0.25})])
    result = json.loads((work / f"{name}-eval" / "evaluation.json").read_text())
    return {"pairs": len(prefs.pairs), "win_rate": result["win_rate"]["judge"], "gate": result["gate"],
            "reasons": result["reasons"]}


def warm_share(model_dir: Path, prompts: list[str], max_tokens: int) -> float:
    art = load_artifact(model_dir)
    warm = 0
    for p in prompts:
        ids, _ = art.tokenizer.encode_chat([{"role": "user", "content": p}], add_generation_prompt=True)
        warm += users.warmth(art.tokenizer.decode(generate(art, ids, max_tokens))) > 0
    return warm / len(prompts)


def one_seed(seed: int, args, root: Path) -> dict:
    torch.manual_seed(seed)
    work = root / f"seed-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    champion = train_champion(work, seed, args.sft_steps)
    interactions = sample_round(champion, seed, args.max_tokens)
    real = [f for c, ch in zip(interactions["completion_id"], interactions["choices"])
            if (f := users.feedback_for(c, ch)) is not None]
    coin = random.Random(seed + 999)
    null = [{"completion_id": f["completion_id"], "preferred_choice": coin.randrange(2)} for f in real]
    out = {"seed": seed, "feedback": len(real), "real": run_round(work, "real", champion, interactions, real, seed, args),
           "null": run_round(work, "null", champion, interactions, null, seed, args)}
    eval_prompts = prompts_for(EVAL_SUBJECTS)
    out["warm_share"] = {"champion": warm_share(champion, eval_prompts, args.max_tokens),
                         "challenger": warm_share(work / "real-challenger", eval_prompts, args.max_tokens)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--dpo-steps", type=int, default=40)
    parser.add_argument("--dpo-lr", type=float, default=2e-4)
    parser.add_argument("--rpo-alpha", type=float, default=1.0, help="weight of the chosen-answer NLL in the DPO loss")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--red-team", type=int, default=8, help="red-team prompts per model in the evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for debug models)")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="flywheel-prefs-bench-"))
    results = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        r = one_seed(seed, args, root)
        results.append(r)
        print(f"seed={seed} feedback={r['feedback']} pairs={r['real']['pairs']} "
              f"win_rate={r['real']['win_rate']:.3f} gate={r['real']['gate']} "
              f"null_win_rate={r['null']['win_rate']:.3f} null_gate={r['null']['gate']} "
              f"warm_share champion={r['warm_share']['champion']:.2f} "
              f"challenger={r['warm_share']['challenger']:.2f} seconds={r['seconds']}", flush=True)
    real = [r["real"]["win_rate"] for r in results]
    null = [r["null"]["win_rate"] for r in results]
    sd = statistics.stdev if len(results) > 1 else (lambda xs: 0.0)
    # Noise: the larger of the spread across seeds (real or null rounds) and the sampling error of one
    # win rate over this many judged prompts at 0.5 (binomial: 0.5 / sqrt(n)), so identical seeds never
    # make the ratio look better than one evaluation's resolution allows.
    comparisons = len(prompts_for(EVAL_SUBJECTS))
    noise = max(sd(real), sd(null), 0.5 / comparisons ** 0.5)
    summary = {"seeds": len(results), "real_win_rate_mean": statistics.mean(real), "real_win_rate_sd": sd(real),
               "null_win_rate_mean": statistics.mean(null), "null_win_rate_sd": sd(null),
               "margin_mean": statistics.mean(real) - statistics.mean(null), "noise": noise,
               "margin_over_noise": (statistics.mean(real) - statistics.mean(null)) / noise,
               "gates": [r["real"]["gate"] for r in results], "null_gates": [r["null"]["gate"] for r in results]}
    print("summary " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    (root / "preference_rounds.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=2))
    print(f"details: {root / 'preference_rounds.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
