"""The training job, top to bottom: parse → init distributed → build → loop → save.

This is what `training_jobs/train.py` and `flywheel train` run, on a laptop or as a SageMaker training
job (paths and hyperparameters: `flywheel.training.config`). One process:

    python training_jobs/train.py --train-dir runs/shards --model-dir runs/model \
        --checkpoint-dir runs/ckpt --output-data-dir runs/out --failure-file runs/failure --preset debug

or N processes with DDP (gloo on CPU, NCCL on GPU; `--fsdp true` shards instead):

    torchrun --nproc-per-node 2 training_jobs/train.py ...same flags...

Pretraining or SFT is the channel's kind (`shards.json`); `--init-from` starts from an artifact (a
model folder or model.tar.gz), e.g. SFT from the champion. A checkpoint in --checkpoint-dir is resumed
by itself. SIGTERM (a spot interruption) checkpoints at the next step boundary and exits with 143
without writing a model. Bad hyperparameters (exit 2), a missing or empty channel or a corrupt
checkpoint (exit 1) print one clear line and write it to the failure file, as SageMaker expects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import torch

from flywheel.data.shards import Channel, ChannelError
from flywheel.model import GPT, preset
from flywheel.model.artifact import ArtifactError, load_artifact, save_artifact, unpack
from flywheel.training.checkpoint import (
    CheckpointError,
    check_fingerprint,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from flywheel.training.config import HyperparameterError, default_failure_file, parse_args
from flywheel.training.data import TrainBatches, validation_batches
from flywheel.training.distributed import (
    all_gather_objects,
    all_reduce,
    barrier,
    full_model_state,
    full_state,
    init_distributed,
    load_full_state,
    shutdown,
    unwrap,
    wrap,
)
from flywheel.training.loop import evaluate, train_step
from flywheel.training.report import Reporter, metric_lines
from flywheel.training.schedule import build_optimizer, build_scheduler

EXIT_BAD_HYPERPARAMETERS, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 128 + signal.SIGTERM
EXPECTED_ERRORS = (HyperparameterError, ChannelError, CheckpointError, ArtifactError)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return run(argv)
    except EXPECTED_ERRORS as exc:
        code = EXIT_BAD_HYPERPARAMETERS if isinstance(exc, HyperparameterError) else EXIT_FAILED
        return fail(argv, f"{type(exc).__name__}: {exc}", code)
    except Exception as exc:  # noqa: BLE001 - a bug or environment fault: keep the traceback too
        traceback.print_exc()
        return fail(argv, f"{type(exc).__name__}: {exc}", EXIT_FAILED)


def run(argv: list[str]) -> int:
    # ---- parse -------------------------------------------------------------------------------------
    cfg = parse_args(argv)

    # ---- init distributed --------------------------------------------------------------------------
    d = init_distributed(cfg.device)
    try:
        return train(cfg, d)
    finally:
        shutdown(d)


def train(cfg, d) -> int:
    # SIGTERM (spot interruption, StopTrainingJob) and Ctrl-C only raise a flag; the loop checkpoints
    # at the next step boundary. The caller's handlers come back afterwards.
    # Python lets only the main thread install handlers; a job run from a worker thread has none.
    stop = {"signal": None}
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda signum, frame: stop.update(signal=signum))
                    for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return train_until_done_or_stopped(cfg, d, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def train_until_done_or_stopped(cfg, d, stop: dict) -> int:
    out = Reporter(d.is_main, cfg.max_steps)

    # ---- build: data -------------------------------------------------------------------------------
    train_channel = Channel.open(cfg.train_dir)
    tokenizer = train_channel.tokenizer()
    val_split = None
    if cfg.validation_dir:
        val_channel = Channel.open(cfg.validation_dir)
        if not same_tokenizer(val_channel.tokenizer_text(), train_channel.tokenizer_text()):
            raise ChannelError(f"validation channel {cfg.validation_dir} was tokenized with a different "
                               f"tokenizer than the train channel {cfg.train_dir}")
        if val_channel.kind != train_channel.kind:
            raise ChannelError(f"validation channel is {val_channel.kind!r} but the train channel is "
                               f"{train_channel.kind!r}")
        names = val_channel.split_names
        val_split = val_channel.split("val" if "val" in names else names[0])
    elif "val" in train_channel.split_names:
        val_split = train_channel.split("val")
    train_split = train_channel.split("train")
    kind = train_channel.kind

    # ---- build: model ------------------------------------------------------------------------------
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    parent = None
    if cfg.init_from:
        artifact = load_init(cfg.init_from)
        if not same_tokenizer(artifact.tokenizer.to_str(), train_channel.tokenizer_text()):
            raise ChannelError(f"the train channel was not tokenized with --init-from's tokenizer "
                               f"({artifact.version}); re-tokenize the data with the model's tokenizer.json")
        model, parent = artifact.model.train(), artifact.version
    else:
        model = GPT(preset(cfg.preset, vocab_size=train_channel.vocab_size))
    config = model.config
    if train_channel.vocab_size > config.vocab_size:
        raise ChannelError(f"channel vocabulary ({train_channel.vocab_size}) exceeds the model's "
                           f"({config.vocab_size})")
    block_size = cfg.block_size or config.block_size
    if block_size > config.block_size:
        raise HyperparameterError(f"--block-size {block_size} exceeds the model's context {config.block_size}")
    model.to(d.device)
    if d.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(cfg.seed + d.rank)  # dropout masks differ per rank
    wrapped = wrap(model, d, cfg.fsdp)
    optimizer = build_optimizer(wrapped, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                betas=(cfg.beta1, cfg.beta2), device_type=d.device.type)
    scheduler = build_scheduler(optimizer, warmup_steps=cfg.warmup_steps, max_steps=cfg.max_steps,
                                min_ratio=cfg.min_lr_ratio)
    batches = TrainBatches(train_split, block_size=block_size, batch_size=cfg.batch_size, seed=cfg.seed,
                           rank=d.rank, world_size=d.world_size, doc_aligned=kind == "sft",
                           eot_id=train_channel.eot_id, device=d.device)
    val_batches = None if val_split is None else validation_batches(
        val_split, block_size=block_size, batch_size=cfg.batch_size, max_batches=cfg.eval_batches,
        rank=d.rank, world_size=d.world_size, device=d.device)
    tokens_per_step = cfg.batch_size * block_size * cfg.grad_accum * d.world_size
    out.log(f"job kind={kind} params={sum(p.numel() for p in model.parameters())} world_size={d.world_size} "
            f"device={d.device.type} tokens_per_step={tokens_per_step} data_version={train_channel.data_version}")

    # ---- resume ------------------------------------------------------------------------------------
    fingerprint = {"model": config.to_dict(), "kind": kind, "data_version": train_channel.data_version,
                   "parent": parent, "seed": cfg.seed, "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum,
                   "block_size": block_size, "world_size": d.world_size, "max_steps": cfg.max_steps,
                   "lr": cfg.lr, "warmup_steps": cfg.warmup_steps, "min_lr_ratio": cfg.min_lr_ratio,
                   "fsdp": cfg.fsdp}
    start_step, history = 0, []
    latest = latest_checkpoint(cfg.checkpoint_dir)
    if latest is not None:
        state = load_checkpoint(latest)
        check_fingerprint(latest, state["fingerprint"], fingerprint)
        load_full_state(wrapped, optimizer, state["model"], state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"][d.rank]["cpu"])
        if d.device.type == "cuda" and state["rng"][d.rank]["cuda"] is not None:
            torch.cuda.set_rng_state(state["rng"][d.rank]["cuda"])
        start_step, history = state["step"], list(state["metrics"].get("history", []))
        out.log(f"resumed step={start_step} from={latest}")

    def checkpoint(step: int) -> None:
        model_state, optim_state = full_state(wrapped, optimizer)  # collective under FSDP: every rank
        rng = all_gather_objects({"cpu": torch.get_rng_state(),
                                  "cuda": torch.cuda.get_rng_state() if d.device.type == "cuda" else None}, d)
        if d.is_main:
            path = save_checkpoint(cfg.checkpoint_dir, {
                "step": step, "model": model_state, "optimizer": optim_state,
                "scheduler": scheduler.state_dict(), "rng": rng, "data": {"seed": cfg.seed, "step": step},
                "fingerprint": fingerprint, "metrics": {"history": history}}, keep=cfg.keep_checkpoints)
            out.log(f"checkpoint step={step} path={path}")
        barrier(d)

    # ---- loop --------------------------------------------------------------------------------------
    wrapped.train()
    train_loss = next((h["train_loss"] for h in reversed(history) if "train_loss" in h), None)
    val_loss = None  # stays None (null in config.json) when there is no validation split
    window_tokens, window_time, run_tokens, run_time = 0, 0.0, 0, 0.0
    for step in range(start_step, cfg.max_steps):
        t0 = time.perf_counter()
        result = train_step(wrapped, optimizer, scheduler, batches, step, cfg.grad_accum, cfg.grad_clip, d)
        elapsed = time.perf_counter() - t0
        done, train_loss = step + 1, result["train_loss"]
        window_tokens += result["tokens"]
        window_time += elapsed
        run_tokens += result["tokens"]
        run_time += elapsed
        out.progress(done)
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            rate = window_tokens / window_time
            norm = "" if result["grad_norm"] is None else f" grad_norm={result['grad_norm']:.4f}"
            out.log(f"step={done} train_loss={train_loss:.6f} lr={scheduler.get_last_lr()[0]:.3e}{norm} "
                    f"tokens_per_sec={rate:.1f}")
            history.append({"step": done, "train_loss": train_loss, "tokens_per_sec": rate})
            window_tokens, window_time = 0, 0.0
        if val_split is not None and cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.max_steps:
            val_loss = evaluate(wrapped, val_batches, d)
            out.log(f"step={done} val_loss={val_loss:.6f}")
            history.append({"step": done, "val_loss": val_loss})
        # Every rank must agree to stop, or the others would wait forever in the next collective.
        interrupted = all_reduce(torch.tensor([1.0 if stop["signal"] else 0.0], device=d.device), d).item() > 0
        if interrupted or (cfg.checkpoint_every and done % cfg.checkpoint_every == 0):
            checkpoint(done)
        if interrupted:
            out.log(f"interrupted step={done}: checkpoint written to {cfg.checkpoint_dir}; rerun to resume")
            return EXIT_INTERRUPTED

    # ---- save --------------------------------------------------------------------------------------
    if val_split is not None:
        val_loss = evaluate(wrapped, val_batches, d)
        out.log(f"step={cfg.max_steps} val_loss={val_loss:.6f}")
        history.append({"step": cfg.max_steps, "val_loss": val_loss})
    if cfg.dump_checksums and not cfg.fsdp:
        # Each rank's own replica: DDP keeps them identical, and this is the evidence.
        # One write per line: ranks share stdout, and print() writes the newline separately.
        sys.stdout.write(f"rank={d.rank} param_checksum={checksum(unwrap(wrapped).state_dict())}\n")
        sys.stdout.flush()
    weights = full_model_state(wrapped) if cfg.fsdp else None
    if d.is_main:
        if weights is not None:
            model = GPT(config)
            model.load_state_dict(weights)
        model = model.to("cpu").eval()
        metrics = {"train_loss": train_loss, "val_loss": val_loss, "steps": cfg.max_steps,
                   "tokens": cfg.max_steps * tokens_per_step,
                   "tokens_per_sec": run_tokens / run_time if run_time else None}
        digest = checksum(model.state_dict())
        version = artifact_version(parent or cfg.preset, kind, train_channel.data_version, digest)
        save_artifact(cfg.model_dir, model, tokenizer, version=version, data_version=train_channel.data_version,
                      metrics=metrics, parent_version=parent,
                      training={"kind": kind, "world_size": d.world_size, "weights_sha256": digest,
                                "hyperparameters": {k: v for k, v in cfg.to_dict().items() if not k.endswith(
                                    ("_dir", "_file"))}})
        Path(cfg.output_data_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.output_data_dir) / "metrics.json").write_text(
            json.dumps({"version": version, "metrics": metrics, "history": history}, indent=2))
        out.log(f"saved model version={version} dir={cfg.model_dir}")
        for line in metric_lines(version, history):
            out.log(line)
    barrier(d)
    return 0


def same_tokenizer(a: str, b: str) -> bool:
    """Same vocabulary and merges (the rest of tokenizer.json is formatting and runtime options)."""
    return json.loads(a)["model"] == json.loads(b)["model"] and \
        json.loads(a).get("added_tokens") == json.loads(b).get("added_tokens")


def load_init(path: str):
    """An artifact to start from: a model folder, or a model.tar.gz unpacked to a temporary folder."""
    source = Path(path)
    if source.is_file():
        source = unpack(source, tempfile.mkdtemp(prefix="flywheel-init-"))
    elif not source.is_dir():
        raise ArtifactError(f"--init-from {path} does not exist")
    return load_artifact(source)


def checksum(state: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def artifact_version(base: str, kind: str, data_version: str, digest: str) -> str:
    """e.g. `debug-pretrain-corpus-v3-20261127T221500Z-1a2b3c4d`: what, on which data, when, which weights."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", f"{base}-{kind}-{data_version}").strip("-")[:80]
    return f"{slug}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{digest[:8]}"


def fail(argv: list[str], message: str, code: int) -> int:
    """Print the reason and write it where SageMaker reads it (rank 0 first; others only if it is absent)."""
    print(f"training failed: {message}", file=sys.stderr, flush=True)
    path = Path(failure_file(argv))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "w" if os.environ.get("RANK", "0") == "0" else "x"
        with open(path, mode) as f:
            f.write(message[:4000] + "\n")
    except FileExistsError:
        pass
    except OSError as exc:
        print(f"could not write the failure file {path}: {exc}", file=sys.stderr, flush=True)
    return code


def failure_file(argv: list[str]) -> str:
    """--failure-file from argv without the full parser (which may be what failed)."""
    for i, arg in enumerate(argv):
        for flag in ("--failure-file", "--failure_file"):
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return default_failure_file()
