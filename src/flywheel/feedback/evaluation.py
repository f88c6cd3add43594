"""The evaluation job: challenger against champion, measured, then judged by the gate.

`training_jobs/evaluate.py` runs this (a SageMaker Processing job in the pipeline, a local process in the
loop). What it measures, for the challenger and (when given) the champion, on the same inputs:

- **win rate**: both models answer the held-out prompts of a preference channel, or `--prompts`
  (greedy, the chat template); a judge compares the two answers to each prompt: the reward model (`--reward-model`, higher
  reward wins) and/or a rule (`--judge module:function`, e.g. the demo's simulated users, returning 1 if
  the first answer is preferred, 0 if the second, 0.5 for a tie). Identical answers tie. The gate uses the
  reward model's rate when there is one, else the rule's.
- **held-out loss**: nats per token on the `val` split of a shard channel (`--data`, what the
  pretraining pipeline passes), else on the held-out pairs' chosen answers.
- **safety**: the share of answers to red-team prompts that `flywheel.safety.filter_output` flags
  (`--red-team` JSONL of {"text"} or {"prompt"}; default: the harmful and attack prompts of the safety
  library's held-out set).

It writes `evaluation.json` into `--output`, with top-level `gate` ("pass" | "fail") that the pipeline's
condition step reads, the gate's checks and reasons, and `preference_round` (metric, champion,
challenger, margin, gate) for the loop's report.

    python training_jobs/evaluate.py --model runs/challenger --champion runs/champion \
        --preferences runs/prefs --reward-model runs/rm --output runs/eval

This module decides nothing itself: `flywheel.feedback.gate.decide` does, with `GateConfig` thresholds
from `--gate-config` (a JSON file or object).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from flywheel.feedback.batching import collate_sequences, encode_completion, prompt_messages
from flywheel.feedback.channel import read_pairs
from flywheel.feedback.gate import GateConfig, ModelMetrics, decide
from flywheel.model.artifact import Artifact, ArtifactError, load_artifact, unpack
from flywheel.model.gpt import IGNORE_INDEX
from flywheel.model.sample import generate

DEFAULT_RED_TEAM = Path(__file__).resolve().parents[1] / "safety" / "data" / "heldout.jsonl"
Judge = Callable[[list[dict], str, str], float]


class EvaluationError(ValueError):
    """Inputs the evaluation cannot use: no model, an unreadable prompt file, a bad judge or config."""


def load_model(path: str | Path) -> Artifact:
    """An artifact folder, a model.tar.gz, a folder holding one (SageMaker's processing input), or an
    s3:// URI of a model.tar.gz (the pipeline passes the approved champion's as a parameter)."""
    if str(path).startswith("s3://"):
        path = download_s3(str(path))
    path = Path(path)
    if path.is_dir() and not (path / "config.json").is_file() and (path / "model.tar.gz").is_file():
        path = path / "model.tar.gz"
    if path.is_file():
        path = unpack(path, tempfile.mkdtemp(prefix="flywheel-eval-"))
    if not path.is_dir():
        raise EvaluationError(f"no model at {path}")
    return load_artifact(path)


def download_s3(uri: str) -> Path:
    """Fetch one s3:// object into a temporary folder (boto3 honours AWS_ENDPOINT_URL, so moto works)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise EvaluationError(f"{uri} is not an s3://bucket/key URI")
    target = Path(tempfile.mkdtemp(prefix="flywheel-eval-")) / Path(key).name
    try:
        boto3.client("s3").download_file(bucket, key, str(target))
    except (BotoCoreError, ClientError) as exc:
        raise EvaluationError(f"cannot fetch {uri}: {exc}") from None
    return target


def _prompt_ids(artifact: Artifact, messages: list[dict], max_new_tokens: int) -> list[int]:
    ids, _ = artifact.tokenizer.encode_chat(messages, add_generation_prompt=True)
    budget = artifact.config.block_size - max_new_tokens
    return ids[-budget:]  # the prompt's end (the question and the assistant tag) matters most


def answers(artifact: Artifact, prompts: list[list[dict]], max_new_tokens: int) -> list[str]:
    artifact.model.eval()
    out = []
    for messages in prompts:
        ids = generate(artifact, _prompt_ids(artifact, messages, max_new_tokens), max_tokens=max_new_tokens)
        out.append(artifact.tokenizer.decode(ids))
    return out


@torch.no_grad()
def answer_loss(artifact: Artifact, prompts: list, completions: list, batch_size: int = 16) -> float:
    """Nats per answer token (prompt masked), summed over all pairs then divided: long answers weigh more."""
    model, tok = artifact.model.eval(), artifact.tokenizer
    total, count = 0.0, 0
    for start in range(0, len(prompts), batch_size):
        rows = [encode_completion(tok, p, c, model.config.block_size)
                for p, c in zip(prompts[start:start + batch_size], completions[start:start + batch_size])]
        batch = collate_sequences(rows, tok.pad_id)
        logps = model.sequence_logprobs(batch.inputs, batch.targets)  # (B,) summed log-probs
        total -= float(logps.sum())
        count += int((batch.targets != IGNORE_INDEX).sum())
    return total / count if count else math.nan


def shard_loss(artifact: Artifact, data_dir: str | Path, batch_size: int = 8, max_batches: int = 16) -> float:
    """Loss on a shard channel's `val` split, with the training job's own validation windows."""
    from flywheel.data.shards import Channel
    from flywheel.training.data import validation_batches
    from flywheel.training.distributed import Dist
    from flywheel.training.loop import evaluate

    channel = Channel.open(data_dir)
    split = channel.split("val" if "val" in channel.split_names else channel.split_names[0])
    batches = validation_batches(split, block_size=artifact.config.block_size, batch_size=batch_size,
                                 max_batches=max_batches)
    return evaluate(artifact.model, batches, Dist(0, 0, 1, torch.device("cpu")))


def _jsonl(path: str | Path) -> list[dict]:
    try:
        return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from None


def red_team_prompts(path: str | Path | None, limit: int) -> list[list[dict]]:
    path = Path(path) if path else DEFAULT_RED_TEAM
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvaluationError(f"cannot read red-team prompts {path}: {exc}") from None
    prompts = []
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        if path == DEFAULT_RED_TEAM and row.get("label") not in ("harmful", "attack"):
            continue  # the safety set's benign rows measure over-refusal, not what a model says to attacks
        text = row.get("prompt", row.get("text"))
        if isinstance(text, str) and text:
            prompts.append([{"role": "user", "content": text}])
    return prompts[:limit]


def flag_rate(texts: list[str]) -> float:
    from flywheel.safety import filter_output

    return sum(filter_output(t).flagged for t in texts) / len(texts) if texts else math.nan


def reward_judge(path: str | Path) -> tuple[Judge, str]:
    from flywheel.feedback.reward import load_reward_model, score

    model, tok, meta = load_reward_model(path)

    def judge(prompt: list[dict], a: str, b: str) -> float:
        ra, rb = score(model, tok, [prompt, prompt], [a, b])
        return 1.0 if ra > rb else 0.0 if ra < rb else 0.5

    return judge, str(meta.get("version"))


def import_judge(spec: str) -> Judge:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise EvaluationError(f"--judge {spec!r} is not an importable module:function ({exc})") from None


def win_rate(judge: Judge, prompts: list[list[dict]], challenger: list[str], champion: list[str]) -> float:
    """The challenger's share of wins (ties half) over the champion; identical answers tie without a judge."""
    scores = [0.5 if a == b else float(judge(p, a, b)) for p, a, b in zip(prompts, challenger, champion)]
    return sum(scores) / len(scores) if scores else math.nan


def gate_config(spec: str | None) -> GateConfig:
    if not spec:
        return GateConfig()
    try:
        data = json.loads(Path(spec).read_text()) if Path(spec).is_file() else json.loads(spec)
        return GateConfig.from_dict(data)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise EvaluationError(f"--gate-config: {exc}") from None


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    challenger = load_model(args.model)
    champion = load_model(args.champion) if args.champion else None
    models = {"challenger": challenger} | ({"champion": champion} if champion else {})
    config = gate_config(args.gate_config)

    held = read_pairs(args.preferences).heldout if args.preferences else []
    prompt_rows = _jsonl(args.prompts) if args.prompts else held
    seen, prompts = set(), []
    for row in prompt_rows:
        messages = prompt_messages(row.get("prompt", row.get("text")))
        key = json.dumps(messages, sort_keys=True)
        if key not in seen:
            seen.add(key)
            prompts.append(messages)
    prompts = prompts[:args.max_prompts]

    result: dict = {"models": {}, "inputs": {"heldout_pairs": len(held), "win_rate_prompts": len(prompts)}}
    red = red_team_prompts(args.red_team, args.red_team_limit) if args.red_team_limit > 0 else []
    generated: dict[str, list[str]] = {}
    for role, artifact in models.items():
        if args.data:
            loss = shard_loss(artifact, args.data)
        elif held:
            loss = answer_loss(artifact, [r["prompt"] for r in held], [r["chosen"] for r in held])
        else:
            loss = None
        red_answers = answers(artifact, red, args.max_new_tokens)
        generated[role] = answers(artifact, prompts, args.max_new_tokens) if champion else []
        result["models"][role] = {"version": artifact.version, "heldout_loss": loss,
                                  "flag_rate": flag_rate(red_answers) if red else None,
                                  "red_team_prompts": len(red)}

    rates: dict[str, float] = {}
    if champion and prompts:
        if args.reward_model:
            judge, judge_version = reward_judge(args.reward_model)
            rates["reward_model"] = win_rate(judge, prompts, generated["challenger"], generated["champion"])
            result["inputs"]["reward_model"] = judge_version
        if args.judge:
            rates["judge"] = win_rate(import_judge(args.judge), prompts, generated["challenger"],
                                      generated["champion"])
        result["samples"] = [{"prompt": p[-1]["content"], "challenger": a, "champion": b}
                             for p, a, b in list(zip(prompts, generated["challenger"], generated["champion"]))[:5]]
    primary = "reward_model" if "reward_model" in rates else ("judge" if "judge" in rates else None)
    rate = rates.get(primary) if primary else None
    result["win_rate"] = {**rates, "gate_uses": primary, "comparisons": len(prompts) if rates else 0}

    def metrics(role: str) -> ModelMetrics:
        m = result["models"][role]
        return ModelMetrics(m["heldout_loss"], m["flag_rate"], m["red_team_prompts"])

    decision = decide(metrics("challenger"), metrics("champion") if champion else None, rate,
                      result["win_rate"]["comparisons"], config)
    result |= decision.to_dict()
    result["config"] = config.__dict__
    result["preference_round"] = {
        "metric": f"win_rate_{primary}" if primary else "win_rate",
        "champion": None if rate is None else 1.0 - rate, "challenger": rate,
        "margin": None if rate is None else 2 * rate - 1.0, "gate": decision.verdict}
    result["seconds"] = round(time.perf_counter() - started, 2)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    result = _json_safe(result)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    return result


def _json_safe(value):
    """NaN and infinity become null: JSON has no spelling for them, and the pipeline's JsonGet reads this."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate.py", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the challenger: artifact folder, model.tar.gz, or a folder with one")
    p.add_argument("--champion", default=None, help="the champion (absent for the first model)")
    p.add_argument("--data", default=None, help="a shard channel: held-out loss on its val split")
    p.add_argument("--preferences", default=None, help="a preference channel: its held-out prompts and answers")
    p.add_argument("--prompts", default=None,
                   help="JSONL of {prompt} or {text} for the win rate (default: the preference channel's held-out prompts)")
    p.add_argument("--reward-model", default=None, help="a reward-model artifact that judges the win rate")
    p.add_argument("--judge", default=None, help="module:function(prompt, answer_a, answer_b) -> 1 | 0.5 | 0")
    p.add_argument("--red-team", default=None, help="JSONL of red-team prompts (default: the safety held-out set)")
    p.add_argument("--red-team-limit", type=int, default=32)
    p.add_argument("--max-prompts", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--gate-config", default=None, help="GateConfig as a JSON file or a JSON object")
    p.add_argument("--output", default="/opt/ml/processing/output/evaluation")
    return p


def metric_lines(result: dict) -> list[str]:
    """The gate's verdict and the metrics it read, as catalogue EMF lines under the challenger's version
    (CloudWatch turns them into the loop's dashboard tiles in AWS; the local bridge does so on a laptop)."""
    from flywheel.observability.catalogue import emf_line

    challenger = result["models"]["challenger"]
    dims = {"ModelVersion": str(challenger.get("version") or "unversioned")}
    values = {"heldout_loss": challenger.get("heldout_loss"), "flag_rate": challenger.get("flag_rate")}
    uses = result["win_rate"].get("gate_uses")
    if uses:
        values["win_rate"] = result["win_rate"].get(uses)
    lines = [emf_line("GateVerdict", 1.0 if result["gate"] == "pass" else 0.0, dims)]
    lines += [emf_line("GateMetric", float(v), {**dims, "Metric": k}) for k, v in values.items()
              if isinstance(v, (int, float)) and math.isfinite(v)]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except (EvaluationError, ArtifactError) as exc:
        print(f"evaluation failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: result[k] for k in ("gate", "reasons", "win_rate", "preference_round")}, indent=2))
    print("\n".join(metric_lines(result)), flush=True)
    return 0
