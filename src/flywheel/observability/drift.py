"""Prompt drift: how far the prompts an endpoint sees have moved from the prompts the model was trained on.

Inputs
- Captured data, as SageMaker data capture writes it: JSON Lines under
  `<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`, one invocation a line:
      {"captureData": {"endpointInput":  {"observedContentType": "application/json", "mode": "INPUT",
                                          "data": "<the request body>", "encoding": "JSON" | "BASE64"},
                       "endpointOutput": {... "mode": "OUTPUT" ...}},
       "eventMetadata": {"eventId": "...", "inferenceTime": "2026-11-27T23:00:00Z", "inferenceId"?: "..."},
       "eventVersion": "0"}
  The input's body is the endpoint's invocation body (`flywheel.serving.params`): the prompt is the
  text of its non-system messages (the server's system policy is the same for every request), or
  `prompt`. A line that is not such a record is counted under its reason and skipped.
- A baseline: the training data's curated Parquet (its `text` column), a token-shard channel folder
  (documents are the runs of ids between end-of-text ids), more captures (a reference week), or a
  `baseline.json` this module wrote before. `--max-docs` samples it (first N, deterministic).

Statistics of a set of texts (`PromptStats`): the length of each text (in tokens with the model's
tokenizer, else in words), the rate at which `flywheel.safety.moderate` flags each category, and the
unigram distribution of tokens (the tokenizer's ids, else lower-cased words).

The score (all parts in [0, 1]; 0 = same distribution):
- `token_js`: Jensen–Shannon divergence, base 2, between the two token distributions.
- `length_shift`: 1 − exp(−PSI), where PSI is the population stability index of the lengths over ten
  bins cut at the baseline's deciles (each bin's share floored at 1e-4). The usual reading of PSI —
  < 0.1 stable, 0.1–0.25 moderate, > 0.25 a real shift — maps to < 0.10, 0.10–0.22, > 0.22 here.
- `category_shift`: the largest absolute change in any category's flag rate.
- `drift_score` = the largest of the three, so the alarm (DriftScore Maximum > 0.25, infra config
  `drift_threshold`) fires when any one of them moves that far. Small samples are noisy: with a few
  hundred prompts over a 256-token vocabulary, `token_js` of two samples of one distribution is ≈ 0.01–0.03.

Publishing: the catalogue's `DriftScore` (dimension ModelVersion), printed as an EMF line and, with
`publish=True`, sent with `put_metric_data` through `flywheel.observability.local_sink` (the job's role
needs cloudwatch:PutMetricData), so the alarm that starts continuous training reads it either way.

    python training_jobs/drift.py --captures CAPTURE_DIR --baseline CURATED_OR_CHANNEL_DIR \
        [--tokenizer tokenizer.json] [--model-version v3] [--output OUT_DIR] [--publish]

Knows the capture format, the shard channel and the safety classifier; nothing about S3 listing (a
Processing job's inputs arrive as local folders) or the alarm.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)
LENGTH_BINS = 10
_PSI_FLOOR = 1e-4
BASELINE_FILE = "baseline.json"


class DriftError(ValueError):
    """Inputs the drift job cannot use (no prompts, an unreadable baseline); the message says which."""


class MalformedCapture(Exception):
    """One capture line with no usable prompt; the message is the reason it is counted under."""


# ----------------------------------------------------------------------------- captured data
@dataclass
class CaptureRead:
    prompts: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> lines
    files: int = 0


def _capture_prompt(record: Any) -> str:
    """The prompt of one capture record; MalformedCapture with a short reason if it has none."""
    if not isinstance(record, dict):
        raise MalformedCapture("not a JSON object")
    data = (record.get("captureData") or {}).get("endpointInput") if isinstance(record.get("captureData"), dict) \
        else None
    if not isinstance(data, dict) or not isinstance(data.get("data"), str):
        raise MalformedCapture("no captureData.endpointInput.data")
    encoding = str(data.get("encoding", "JSON")).upper()
    raw = data["data"]
    if encoding == "BASE64":
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise MalformedCapture("BASE64 input that does not decode to UTF-8") from None
    elif encoding != "JSON":
        raise MalformedCapture(f"unsupported encoding {encoding}")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        raise MalformedCapture("input body is not JSON") from None
    return prompt_of(body)


def prompt_of(body: Any) -> str:
    """The prompt text of an invocation body: its non-system messages' text, or `prompt`."""
    if not isinstance(body, dict):
        raise MalformedCapture("input body is not an object")
    if isinstance(body.get("messages"), list):
        parts = [m.get("content") for m in body["messages"]
                 if isinstance(m, dict) and m.get("role") != "system" and isinstance(m.get("content"), str)]
        if parts:
            return "\n".join(parts)
        raise MalformedCapture("no non-system message text")
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    raise MalformedCapture("neither messages nor prompt")


def read_captures(paths: Iterable[str | Path]) -> CaptureRead:
    """Every prompt in the capture files (a folder is searched for *.jsonl), malformed lines counted."""
    out = CaptureRead()
    for path in _files(paths, "*.jsonl"):
        out.files += 1
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    out.prompts.append(_capture_prompt(json.loads(line)))
                except json.JSONDecodeError:
                    out.skipped["line is not JSON"] += 1
                except MalformedCapture as exc:
                    out.skipped[str(exc)] += 1
    return out


def capture_record(body: dict, output: dict | None = None, *, event_id: str, inference_time: str,
                   inference_id: str | None = None, encoding: str = "JSON") -> dict:
    """One data-capture record as SageMaker writes it (for tests and the local endpoint)."""
    def side(payload: dict, mode: str) -> dict:
        text = json.dumps(payload)
        data = base64.b64encode(text.encode()).decode() if encoding == "BASE64" else text
        return {"observedContentType": "application/json", "mode": mode, "data": data, "encoding": encoding}

    meta = {"eventId": event_id, "inferenceTime": inference_time}
    if inference_id:
        meta["inferenceId"] = inference_id
    return {"captureData": {"endpointInput": side(body, "INPUT"), "endpointOutput": side(output or {}, "OUTPUT")},
            "eventMetadata": meta, "eventVersion": "0"}


def _files(paths: Iterable[str | Path], pattern: str) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(x for x in p.rglob(pattern) if x.is_file())
        elif p.is_file():
            yield p
        else:
            raise DriftError(f"{p} does not exist")


# ----------------------------------------------------------------------------- statistics
@dataclass
class PromptStats:
    """What the score compares: lengths, category flag rates and token counts of a set of texts."""

    n: int
    unit: str  # "tokens" (the model's tokenizer) or "words"
    lengths: list[int]
    category_rates: dict[str, float]
    token_counts: dict[str, int]  # token (id as a string, or word) -> occurrences

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PromptStats:
        try:
            return cls(n=int(data["n"]), unit=str(data["unit"]), lengths=[int(x) for x in data["lengths"]],
                       category_rates={str(k): float(v) for k, v in data["category_rates"].items()},
                       token_counts={str(k): int(v) for k, v in data["token_counts"].items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise DriftError(f"baseline statistics are malformed: {exc}") from exc


def prompt_stats(texts: Sequence[str], tokenizer=None) -> PromptStats:
    """Statistics of `texts`; `tokenizer` (a ChatTokenizer or anything with `encode_batch`) picks the unit."""
    from flywheel.safety.moderation import CATEGORIES, moderate

    if not texts:
        raise DriftError("no texts to describe")
    if tokenizer is not None:
        tokens = [[str(i) for i in ids] for ids in tokenizer.encode_batch(list(texts))]
        unit = "tokens"
    else:
        tokens = [_WORD.findall(t.lower()) for t in texts]
        unit = "words"
    flagged = Counter()
    for text in texts:
        flagged.update(c for c, on in moderate(text).categories.items() if on)
    counts: Counter = Counter()
    for seq in tokens:
        counts.update(seq)
    return PromptStats(n=len(texts), unit=unit, lengths=[len(s) for s in tokens],
                       category_rates={c: flagged[c] / len(texts) for c in CATEGORIES},
                       token_counts=dict(counts))


def js_divergence(p: dict[str, int], q: dict[str, int]) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of two count tables; 0 when either is empty."""
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return 0.0
    total = 0.0
    for key in set(p) | set(q):
        a, b = p.get(key, 0) / sp, q.get(key, 0) / sq
        m = (a + b) / 2
        if a:
            total += 0.5 * a * math.log2(a / m)
        if b:
            total += 0.5 * b * math.log2(b / m)
    return min(1.0, max(0.0, total))


def psi(expected: Sequence[float], actual: Sequence[float], bins: int = LENGTH_BINS) -> float:
    """Population stability index of `actual` against `expected`, bins cut at `expected`'s quantiles."""
    if not expected or not actual:
        return 0.0
    ordered = sorted(expected)
    cuts = sorted({ordered[min(len(ordered) - 1, int(len(ordered) * k / bins))] for k in range(1, bins)})

    def shares(values: Sequence[float]) -> list[float]:
        hist = [0] * (len(cuts) + 1)
        for v in values:
            hist[sum(v >= c for c in cuts)] += 1
        return [max(h / len(values), _PSI_FLOOR) for h in hist]

    e, a = shares(expected), shares(actual)
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))


def drift(baseline: PromptStats, live: PromptStats) -> dict[str, float]:
    """The score's parts and the score (see the module docstring)."""
    if baseline.unit != live.unit:
        raise DriftError(f"baseline counts {baseline.unit} but live prompts count {live.unit}: "
                         "give both the same tokenizer")
    length_psi = psi(baseline.lengths, live.lengths)
    parts = {
        "token_js": js_divergence(baseline.token_counts, live.token_counts),
        "length_psi": length_psi,
        "length_shift": 1.0 - math.exp(-length_psi),
        "category_shift": max((abs(live.category_rates.get(c, 0.0) - r) for c, r in baseline.category_rates.items()),
                              default=0.0),
    }
    parts["drift_score"] = max(parts["token_js"], parts["length_shift"], parts["category_shift"])
    return parts


# ----------------------------------------------------------------------------- baselines
def baseline_texts(path: str | Path, max_docs: int) -> list[str]:
    """Texts of a baseline source: a curated Parquet file or folder, a shard channel, or capture JSONL."""
    path = Path(path)
    if (path / "shards.json").is_file():
        return _channel_texts(path, max_docs)
    parquet = list(_files([path], "*.parquet")) if path.is_dir() or path.suffix == ".parquet" else []
    if parquet:
        import pyarrow.parquet as pq

        texts: list[str] = []
        for f in parquet:
            table = pq.read_table(f, columns=["text"])
            texts.extend(t for t in table.column("text").to_pylist() if isinstance(t, str))
            if len(texts) >= max_docs:
                break
        return texts[:max_docs]
    captured = read_captures([path]).prompts
    if captured:
        return captured[:max_docs]
    raise DriftError(f"{path}: no shard channel, Parquet with a `text` column, or captured prompts")


def _channel_texts(path: Path, max_docs: int) -> list[str]:
    from flywheel.data.shards import Channel

    channel = Channel.open(path)
    tokenizer = channel.tokenizer()
    split = channel.split("train" if "train" in channel.split_names else channel.split_names[0])
    texts, current = [], []
    for ids, _mask in split.shards:
        for token in ids.tolist():
            if token == channel.eot_id:
                if current:
                    texts.append(tokenizer.decode(current))
                    if len(texts) >= max_docs:
                        return texts
                current = []
            else:
                current.append(token)
    return texts


def load_baseline(path: str | Path, tokenizer, max_docs: int) -> PromptStats:
    path = Path(path)
    stats_file = path if path.suffix == ".json" else path / BASELINE_FILE
    if stats_file.is_file():
        return PromptStats.from_json(json.loads(stats_file.read_text()))
    return prompt_stats(baseline_texts(path, max_docs), tokenizer)


def _tokenizer(path: str | None):
    if not path:
        return None
    from flywheel.model.tokenizer import ChatTokenizer

    p = Path(path)
    return ChatTokenizer.from_file(p / "tokenizer.json" if p.is_dir() else p)


# ----------------------------------------------------------------------------- the job
def run(captures: Sequence[str | Path], baseline: str | Path, *, tokenizer=None, model_version: str = "all",
        max_docs: int = 5000, publish: bool = False, cloudwatch=None, emit=print,
        baseline_out: str | Path | None = None) -> dict:
    """Read captures, compare with the baseline, emit DriftScore; returns the report (drift.json).

    `baseline_out`: where to keep the baseline's statistics (baseline.json) so the next run need not
    read the training data again.
    """
    from flywheel.observability.catalogue import emf_line

    read = read_captures(captures)
    if not read.prompts:
        raise DriftError(f"no usable prompts in {read.files} capture file(s); skipped: {dict(read.skipped)}")
    base = load_baseline(baseline, tokenizer, max_docs)
    if baseline_out is not None:
        Path(baseline_out).write_text(json.dumps(base.to_json()))
    live = prompt_stats(read.prompts, tokenizer)
    parts = drift(base, live)
    line = emf_line("DriftScore", parts["drift_score"], {"ModelVersion": model_version},
                    properties={"prompts": live.n, "baseline_texts": base.n, "skipped_lines": sum(read.skipped.values()),
                                **{k: v for k, v in parts.items() if k != "drift_score"}})
    emit(line)
    if publish:
        from flywheel.observability.local_sink import EmfBridge

        bridge = EmfBridge(client=cloudwatch, keep_logs=False)
        bridge.feed(line)
        bridge.flush()
    return {"model_version": model_version, "unit": live.unit, "prompts": live.n, "baseline_texts": base.n,
            "capture_files": read.files, "skipped": dict(read.skipped), **parts,
            "live_category_rates": live.category_rates, "baseline_category_rates": base.category_rates}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drift.py", description=__doc__.splitlines()[0])
    parser.add_argument("--captures", nargs="+", required=True, help="capture JSONL files or folders")
    parser.add_argument("--baseline", required=True,
                        help="curated Parquet, a shard channel, capture JSONL, or a baseline.json")
    parser.add_argument("--tokenizer", help="the model's tokenizer.json (or a folder holding it)")
    parser.add_argument("--model-version", default="all")
    parser.add_argument("--max-docs", type=int, default=5000, help="baseline texts to read at most")
    parser.add_argument("--output", help="folder for drift.json and baseline.json")
    parser.add_argument("--publish", action="store_true", help="also put_metric_data DriftScore")
    args = parser.parse_args(argv)
    tokenizer = _tokenizer(args.tokenizer)
    out = Path(args.output) if args.output else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    try:
        report = run(args.captures, args.baseline, tokenizer=tokenizer, model_version=args.model_version,
                     max_docs=args.max_docs, publish=args.publish,
                     baseline_out=out / BASELINE_FILE if out is not None else None)
    except DriftError as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return 2
    if out is not None:
        (out / "drift.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    print(json.dumps({k: report[k] for k in ("drift_score", "token_js", "length_shift", "category_shift",
                                             "prompts", "skipped")}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
