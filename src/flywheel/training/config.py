"""Hyperparameters and paths of a training run, read the way SageMaker hands them over.

SageMaker passes hyperparameters as `--name value` strings (booleans as "True"/"False") and paths in
environment variables; every path here also has a flag so the same job runs on a laptop:

    SM_CHANNEL_TRAIN       --train-dir        the shard channel (flywheel.data.shards) to train on
    SM_CHANNEL_VALIDATION  --validation-dir   optional; else the train channel's "val" split, if any
    SM_MODEL_DIR           --model-dir        where the artifact goes (default /opt/ml/model)
    SM_OUTPUT_DATA_DIR     --output-data-dir  metrics.json (default /opt/ml/output/data)
                           --checkpoint-dir   default /opt/ml/checkpoints (synced to S3 by SageMaker)
    SM_OUTPUT_DIR          --failure-file     default $SM_OUTPUT_DIR/failure, i.e. /opt/ml/output/failure

Names are accepted with dashes or underscores (`--max-steps` or `--max_steps`). Anything wrong raises
`HyperparameterError` naming the argument; this module knows nothing of torch or the model.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from flywheel.model.config import PRESETS

SM_DEFAULTS = {
    "SM_MODEL_DIR": "/opt/ml/model",
    "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data",
    "SM_OUTPUT_DIR": "/opt/ml/output",
}
DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"
DEFAULT_TRAIN_DIR = "/opt/ml/input/data/train"


class HyperparameterError(ValueError):
    """A hyperparameter that is unknown, malformed or out of range."""


@dataclass(frozen=True)
class TrainConfig:
    preset: str
    max_steps: int
    seed: int
    batch_size: int  # sequences per rank per micro-step
    grad_accum: int  # micro-steps per optimizer step
    block_size: int | None  # None: the model's own context length
    lr: float
    min_lr_ratio: float  # the cosine decays to lr * min_lr_ratio
    warmup_steps: int
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float  # 0 disables clipping
    eval_every: int  # 0: validate only at the end
    eval_batches: int
    log_every: int
    checkpoint_every: int  # 0: checkpoint only on SIGTERM
    keep_checkpoints: int
    init_from: str | None
    fsdp: bool
    device: str
    dump_checksums: bool
    train_dir: str
    validation_dir: str | None
    model_dir: str
    output_data_dir: str
    checkpoint_dir: str
    failure_file: str

    def to_dict(self) -> dict:
        return asdict(self)


def _bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit 2; the job maps it instead
        raise HyperparameterError(message)


def default_failure_file(env: dict | None = None) -> str:
    env = os.environ if env is None else env
    return str(Path(env.get("SM_OUTPUT_DIR", SM_DEFAULTS["SM_OUTPUT_DIR"])) / "failure")


def build_parser(env: dict | None = None) -> argparse.ArgumentParser:
    env = os.environ if env is None else env
    p = _Parser(prog="train.py", allow_abbrev=False, description="Train (or fine-tune) the Flywheel GPT on a shard channel.")

    def add(name: str, **kw) -> None:
        aliases = dict.fromkeys([f"--{name}", f"--{name.replace('-', '_')}"])  # SageMaker keys may use either
        p.add_argument(*aliases, **kw)

    add("preset", default="debug", help=f"model size: one of {sorted(PRESETS)}")
    add("max-steps", type=int, default=200, help="optimizer steps in the whole run")
    add("seed", type=int, default=1337, help="model init and the order of batches")
    add("batch-size", type=int, default=8, help="sequences per rank per micro-step")
    add("grad-accum", type=int, default=1, help="micro-steps per optimizer step")
    add("block-size", type=int, default=None, help="tokens per sequence (default: the model's context)")
    add("lr", type=float, default=1e-3, help="peak learning rate")
    add("min-lr-ratio", type=float, default=0.1, help="final learning rate as a fraction of --lr")
    add("warmup-steps", type=int, default=10, help="linear warmup before the cosine decay")
    add("weight-decay", type=float, default=0.1)
    add("beta1", type=float, default=0.9)
    add("beta2", type=float, default=0.95)
    add("grad-clip", type=float, default=1.0, help="max global gradient norm; 0 disables")
    add("eval-every", type=int, default=50, help="validate every N steps (0: only at the end)")
    add("eval-batches", type=int, default=8, help="validation batches (of --batch-size) per rank")
    add("log-every", type=int, default=10, help="log a train_loss line every N steps")
    add("checkpoint-every", type=int, default=100, help="checkpoint every N steps (0: only on SIGTERM)")
    add("keep-checkpoints", type=int, default=2, help="how many recent checkpoints to keep")
    add("init-from", default=None, help="model directory or model.tar.gz to fine-tune from")
    add("fsdp", type=_bool, default=False, help="shard the model with FSDP instead of replicating (DDP)")
    add("device", default="auto", help="auto (cuda if present, else cpu), cpu or cuda")
    add("dump-checksums", type=_bool, default=False, help="every rank prints a checksum of its parameters")
    add("train-dir", default=env.get("SM_CHANNEL_TRAIN", DEFAULT_TRAIN_DIR))
    add("validation-dir", default=env.get("SM_CHANNEL_VALIDATION"))
    add("model-dir", default=env.get("SM_MODEL_DIR", SM_DEFAULTS["SM_MODEL_DIR"]))
    add("output-data-dir", default=env.get("SM_OUTPUT_DATA_DIR", SM_DEFAULTS["SM_OUTPUT_DATA_DIR"]))
    add("checkpoint-dir", default=DEFAULT_CHECKPOINT_DIR)
    add("failure-file", default=default_failure_file(env))
    return p


def parse_args(argv: list[str] | None, env: dict | None = None) -> TrainConfig:
    try:
        ns = build_parser(env).parse_args(argv)
    except argparse.ArgumentTypeError as exc:
        raise HyperparameterError(str(exc)) from None
    cfg = TrainConfig(**vars(ns))
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise HyperparameterError(message)

    need(cfg.preset in PRESETS, f"--preset {cfg.preset!r} is unknown; choose one of {sorted(PRESETS)}")
    for name in ("max_steps", "batch_size", "grad_accum", "eval_batches", "log_every", "keep_checkpoints"):
        need(getattr(cfg, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    for name in ("warmup_steps", "eval_every", "checkpoint_every"):
        need(getattr(cfg, name) >= 0, f"--{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
    need(cfg.block_size is None or cfg.block_size >= 2, f"--block-size must be >= 2, got {cfg.block_size}")
    need(cfg.lr > 0 and cfg.lr < 1, f"--lr must be in (0, 1), got {cfg.lr}")
    need(0 <= cfg.min_lr_ratio <= 1, f"--min-lr-ratio must be in [0, 1], got {cfg.min_lr_ratio}")
    need(cfg.warmup_steps <= cfg.max_steps,
         f"--warmup-steps ({cfg.warmup_steps}) must not exceed --max-steps ({cfg.max_steps})")
    need(cfg.weight_decay >= 0, f"--weight-decay must be >= 0, got {cfg.weight_decay}")
    need(0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1, "--beta1 and --beta2 must be in [0, 1)")
    need(cfg.grad_clip >= 0, f"--grad-clip must be >= 0, got {cfg.grad_clip}")
    need(cfg.device in ("auto", "cpu", "cuda"), f"--device must be auto, cpu or cuda, got {cfg.device!r}")
