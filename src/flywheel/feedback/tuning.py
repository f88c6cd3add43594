"""The preference-tuning job, top to bottom: parse → init distributed → build → loop → save.

`training_jobs/preference.py` runs this, locally or as a SageMaker training job. Two objectives, one
loop, both fine-tuning from the champion artifact (`--init-from`, a folder or model.tar.gz):

    --objective dpo     the policy starts as the champion; a frozen copy is the DPO reference
    --objective reward  the champion's body plus a scalar head, Bradley–Terry loss

One process:

    python training_jobs/preference.py --objective dpo --init-from runs/champion \
        --train-dir runs/prefs --model-dir runs/challenger --checkpoint-dir runs/ckpt \
        --output-data-dir runs/out --failure-file runs/failure --max-steps 50

N processes with DDP (gloo on CPU, NCCL on GPU):

    torchrun --nproc-per-node 2 training_jobs/preference.py ...same flags...

The data is a preference channel (`flywheel.feedback.channel`: JSONL or Parquet of prompt / chosen /
rejected; SM_CHANNEL_PREFERENCES, else SM_CHANNEL_TRAIN); held-out pairs come from SM_CHANNEL_HELDOUT
(`--validation-dir`) or the channel's own held-out rows. Everything else — hyperparameter parsing and
names, distributed init and DDP, the optimizer and schedule, atomic checkpoints with fingerprinted
auto-resume, SIGTERM handling, the failure file and exit codes, artifact versions — is the training
job's (`flywheel.training`), reused as it is. FSDP is not offered here: the reward head and the frozen
reference sit outside the GPT that `flywheel.training.distributed.wrap` shards.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import signal
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from flywheel.feedback.batching import EncodedPair, PairEncodingError, collate_pairs, encode_pair
from flywheel.feedback.channel import PreferenceChannelError, read_pairs
from flywheel.feedback.dpo import chosen_nll, dpo_loss, reference_logprobs
from flywheel.feedback.reward import RewardModel, bradley_terry_loss, save_reward_model
from flywheel.model.artifact import ArtifactError, save_artifact
from flywheel.model.gpt import GPT, IGNORE_INDEX
from flywheel.training.checkpoint import (
    CheckpointError,
    check_fingerprint,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from flywheel.training.config import HyperparameterError, TrainConfig, build_parser, validate
from flywheel.training.distributed import (
    all_gather_objects,
    all_reduce,
    barrier,
    full_state,
    init_distributed,
    load_full_state,
    shutdown,
    unwrap,
    wrap,
)
from flywheel.training.job import (
    EXIT_BAD_HYPERPARAMETERS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    artifact_version,
    checksum,
    fail,
    load_init,
)
from flywheel.training.loop import autocast
from flywheel.training.report import Reporter
from flywheel.training.schedule import build_optimizer, build_scheduler

EXPECTED_ERRORS = (HyperparameterError, PreferenceChannelError, CheckpointError, ArtifactError)
OBJECTIVES = ("dpo", "reward")


@dataclass(frozen=True)
class PreferenceConfig:
    train: TrainConfig  # the shared hyperparameters and paths, validated by flywheel.training.config
    objective: str
    beta: float
    label_smoothing: float
    rpo_alpha: float


def parse_args(argv: list[str] | None, env: dict | None = None) -> PreferenceConfig:
    env = os.environ if env is None else env
    parser = build_parser(env)
    parser.prog = "preference.py"
    parser.description = "Preference-tune the champion: DPO, or a Bradley-Terry reward model."
    parser.add_argument("--objective", default="dpo", help="dpo or reward")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO: strength of the pull to the reference")
    parser.add_argument("--label-smoothing", "--label_smoothing", type=float, default=0.0,
                        help="DPO: assumed share of flipped labels (conservative DPO); 0 is plain DPO")
    # Preference tuning is fine-tuning: gentler defaults than pretraining, every other default shared.
    parser.set_defaults(
        train_dir=env.get("SM_CHANNEL_PREFERENCES", env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/preferences")),
        validation_dir=env.get("SM_CHANNEL_HELDOUT", env.get("SM_CHANNEL_VALIDATION")),
        lr=5e-5, max_steps=100, warmup_steps=0, weight_decay=0.0, beta2=0.999, eval_every=0, log_every=5,
        batch_size=8)
    parser.add_argument("--rpo-alpha", "--rpo_alpha", type=float, default=0.0,
                        help="DPO: weight of the chosen answers' NLL added to the loss (RPO); 0 is plain DPO")
    ns = vars(parser.parse_args(argv))
    objective, beta, smoothing = ns.pop("objective"), ns.pop("beta"), ns.pop("label_smoothing")
    rpo_alpha = ns.pop("rpo_alpha")
    cfg = TrainConfig(**ns)
    validate(cfg)
    if objective not in OBJECTIVES:
        raise HyperparameterError(f"--objective {objective!r} is unknown; choose one of {OBJECTIVES}")
    if beta <= 0:
        raise HyperparameterError(f"--beta must be > 0, got {beta}")
    if not 0 <= smoothing < 0.5:
        raise HyperparameterError(f"--label-smoothing must be in [0, 0.5), got {smoothing}")
    if rpo_alpha < 0:
        raise HyperparameterError(f"--rpo-alpha must be >= 0, got {rpo_alpha}")
    if not cfg.init_from:
        raise HyperparameterError("--init-from (the champion artifact) is required for preference tuning")
    if cfg.fsdp:
        raise HyperparameterError("--fsdp is not supported for preference tuning; it replicates with DDP")
    return PreferenceConfig(cfg, objective, beta, smoothing, rpo_alpha)


class PolicyLogprobs(torch.nn.Module):
    """The policy behind DDP: its forward is `GPT.sequence_logprobs`, so DDP sees (and syncs) that pass."""

    def __init__(self, policy: GPT):
        super().__init__()
        self.policy = policy

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.policy.sequence_logprobs(inputs, targets)  # (2B,)


@functools.lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return tuple(torch.randperm(n, generator=g).tolist())


def stream_indices(n: int, seed: int, start: int, count: int) -> list[int]:
    """Positions [start, start + count) of the endless stream of shuffled epochs; a pure function of step."""
    out: list[int] = []
    pos = start
    while len(out) < count:
        epoch, offset = divmod(pos, n)
        take = min(count - len(out), n - offset)
        out += _permutation(n, seed, epoch)[offset:offset + take]
        pos += take
    return out


def encode_all(tokenizer, rows: list[dict], max_len: int, dropped: Counter) -> list[EncodedPair]:
    out = []
    for row in rows:
        try:
            e = encode_pair(tokenizer, row["prompt"], row["chosen"], row["rejected"], max_len)
        except PairEncodingError:
            dropped["encode.bad_shape"] += 1
            continue
        if e.chosen == e.rejected:
            dropped["encode.identical_after_truncation"] += 1
            continue
        if e.truncated:  # kept, but counted: a channel of mostly cut pairs needs a longer context
            dropped["encode.truncated"] += 1
        out.append(e)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        pc = parse_args(argv)
        d = init_distributed(pc.train.device)
        try:
            return tune(pc, d)
        finally:
            shutdown(d)
    except EXPECTED_ERRORS as exc:
        code = EXIT_BAD_HYPERPARAMETERS if isinstance(exc, HyperparameterError) else EXIT_FAILED
        return fail(argv, f"{type(exc).__name__}: {exc}", code)
    except Exception as exc:  # noqa: BLE001 - a bug or environment fault: keep the traceback too
        traceback.print_exc()
        return fail(argv, f"{type(exc).__name__}: {exc}", EXIT_FAILED)


def tune(pc: PreferenceConfig, d) -> int:
    cfg = pc.train
    out = Reporter(d.is_main, cfg.max_steps)
    stop = {"signal": None}
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.update(signal=signum))

    # ---- build: the champion and the data ----------------------------------------------------------
    torch.manual_seed(cfg.seed)
    artifact = load_init(cfg.init_from)
    tokenizer, parent = artifact.tokenizer, artifact.version
    channel = read_pairs(cfg.train_dir)
    heldout_rows = channel.heldout
    if cfg.validation_dir:
        heldout_rows = read_pairs(cfg.validation_dir).heldout or read_pairs(cfg.validation_dir).train
    max_len = cfg.block_size or artifact.config.block_size
    if max_len > artifact.config.block_size:
        raise HyperparameterError(f"--block-size {max_len} exceeds the model's context {artifact.config.block_size}")
    dropped = Counter(channel.dropped)
    train_pairs = encode_all(tokenizer, channel.train, max_len, dropped)
    held_pairs = encode_all(tokenizer, heldout_rows, max_len, Counter())
    if not train_pairs:
        raise PreferenceChannelError(f"no usable training pairs in {cfg.train_dir} (dropped: {dict(dropped)})")

    # ---- build: the model --------------------------------------------------------------------------
    reference = None
    if pc.objective == "dpo":
        reference = copy.deepcopy(artifact.model).to(d.device).eval().requires_grad_(False)
        module: torch.nn.Module = PolicyLogprobs(artifact.model)
    else:
        module = RewardModel(artifact.model)  # the head's init is seeded by cfg.seed above
    module.to(d.device).train()
    torch.manual_seed(cfg.seed + d.rank)
    wrapped = wrap(module, d, fsdp=False)
    optimizer = build_optimizer(wrapped, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                betas=(cfg.beta1, cfg.beta2), device_type=d.device.type)
    scheduler = build_scheduler(optimizer, warmup_steps=cfg.warmup_steps, max_steps=cfg.max_steps,
                                min_ratio=cfg.min_lr_ratio)
    out.log(f"job objective={pc.objective} parent={parent} pairs_train={len(train_pairs)} "
            f"pairs_heldout={len(held_pairs)} data_version={channel.version} world_size={d.world_size} "
            f"dropped={json.dumps(dict(sorted(dropped.items())))}")

    ref_cache: dict[int, tuple[float, float]] = {}

    def ref_logps(pairs: list[EncodedPair], keys: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference's log-probabilities, each pair computed once per run (the reference never moves)."""
        missing = [(k, p) for k, p in zip(keys, pairs) if k not in ref_cache]
        if missing:
            batch = collate_pairs([p for _, p in missing], tokenizer.pad_id).to(d.device)
            with autocast(d.device):
                c, r = reference_logprobs(reference, batch)
            for (k, _), ci, ri in zip(missing, c.tolist(), r.tolist()):
                ref_cache[k] = (ci, ri)
        values = torch.tensor([ref_cache[k] for k in keys], device=d.device)  # (B, 2)
        return values[:, 0], values[:, 1]

    def losses(model: torch.nn.Module, pairs: list[EncodedPair], keys: list[int]):
        """(loss, chosen score, rejected score) of a batch: implicit rewards for DPO, rewards for the RM."""
        batch = collate_pairs(pairs, tokenizer.pad_id).to(d.device)
        n = batch.n_pairs
        with autocast(d.device):
            if pc.objective == "dpo":
                logps = model(batch.inputs, batch.targets)  # (2B,)
                rc, rr = ref_logps(pairs, keys)
                o = dpo_loss(logps[:n], logps[n:], rc, rr, pc.beta, pc.label_smoothing)
                loss = o.loss
                if pc.rpo_alpha:
                    loss = loss + pc.rpo_alpha * chosen_nll(logps[:n], (batch.targets[:n] != IGNORE_INDEX).sum())
                return loss, o.chosen_rewards, o.rejected_rewards
            rewards = model(batch.tokens, batch.last)  # (2B,)
            return bradley_terry_loss(rewards[:n], rewards[n:]), rewards[:n].detach(), rewards[n:].detach()

    # ---- resume ------------------------------------------------------------------------------------
    fingerprint = {"objective": pc.objective, "parent": parent, "data_version": channel.version,
                   "model": artifact.config.to_dict(), "seed": cfg.seed, "batch_size": cfg.batch_size,
                   "grad_accum": cfg.grad_accum, "block_size": max_len, "world_size": d.world_size,
                   "max_steps": cfg.max_steps, "lr": cfg.lr, "warmup_steps": cfg.warmup_steps,
                   "min_lr_ratio": cfg.min_lr_ratio, "beta": pc.beta, "label_smoothing": pc.label_smoothing,
                   "rpo_alpha": pc.rpo_alpha}
    start_step, history = 0, []
    latest = latest_checkpoint(cfg.checkpoint_dir)
    if latest is not None:
        state = load_checkpoint(latest)
        check_fingerprint(latest, state["fingerprint"], fingerprint)
        load_full_state(wrapped, optimizer, state["model"], state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"][d.rank]["cpu"])
        start_step, history = state["step"], list(state["metrics"].get("history", []))
        out.log(f"resumed step={start_step} from={latest}")

    def checkpoint(step: int) -> None:
        model_state, optim_state = full_state(wrapped, optimizer)
        rng = all_gather_objects({"cpu": torch.get_rng_state(), "cuda": None}, d)
        if d.is_main:
            path = save_checkpoint(cfg.checkpoint_dir, {
                "step": step, "model": model_state, "optimizer": optim_state,
                "scheduler": scheduler.state_dict(), "rng": rng, "data": {"seed": cfg.seed, "step": step},
                "fingerprint": fingerprint, "metrics": {"history": history}}, keep=cfg.keep_checkpoints)
            out.log(f"checkpoint step={step} path={path}")
        barrier(d)

    # ---- loop --------------------------------------------------------------------------------------
    per_step = cfg.batch_size * cfg.grad_accum * d.world_size
    train_loss, t_start = None, time.perf_counter()
    for step in range(start_step, cfg.max_steps):
        totals = torch.zeros(4, device=d.device, dtype=torch.float64)  # loss, margin, correct, pairs
        for m in range(cfg.grad_accum):
            start = ((step * cfg.grad_accum + m) * d.world_size + d.rank) * cfg.batch_size
            keys = stream_indices(len(train_pairs), cfg.seed, start, cfg.batch_size)
            last = m == cfg.grad_accum - 1
            # DDP all-reduces on every backward unless told not to: only the last micro-step syncs.
            sync = wrapped.no_sync() if (not last and hasattr(wrapped, "no_sync")) else contextlib.nullcontext()
            with sync:
                loss, chosen, rejected = losses(wrapped, [train_pairs[k] for k in keys], keys)
                (loss / cfg.grad_accum).backward()
            margin = (chosen - rejected).double()
            totals += torch.stack([loss.detach().double() * len(keys), margin.sum(),
                                   (margin > 0).double().sum() + 0.5 * (margin == 0).double().sum(),
                                   torch.tensor(float(len(keys)), dtype=torch.float64, device=d.device)])
        grad_norm = torch.nn.utils.clip_grad_norm_(wrapped.parameters(), cfg.grad_clip) if cfg.grad_clip else None
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        all_reduce(totals, d)
        done, n = step + 1, float(totals[3])
        train_loss = float(totals[0]) / n
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            norm = "" if grad_norm is None else f" grad_norm={float(grad_norm):.4f}"
            out.log(f"step={done} train_loss={train_loss:.6f} reward_margin={float(totals[1]) / n:.4f} "
                    f"reward_accuracy={float(totals[2]) / n:.4f} lr={scheduler.get_last_lr()[0]:.3e}{norm} "
                    f"pairs_per_sec={per_step * (done - start_step) / (time.perf_counter() - t_start):.1f}")
            history.append({"step": done, "train_loss": train_loss, "reward_margin": float(totals[1]) / n,
                            "reward_accuracy": float(totals[2]) / n})
        interrupted = all_reduce(torch.tensor([1.0 if stop["signal"] else 0.0], device=d.device), d).item() > 0
        if interrupted or (cfg.checkpoint_every and done % cfg.checkpoint_every == 0):
            checkpoint(done)
        if interrupted:
            out.log(f"interrupted step={done}: checkpoint written to {cfg.checkpoint_dir}; rerun to resume")
            return EXIT_INTERRUPTED

    # ---- held-out evaluation -----------------------------------------------------------------------
    heldout = evaluate_pairs(wrapped, losses, held_pairs, cfg.batch_size, d, key_offset=len(train_pairs))
    if heldout:
        out.log(f"step={cfg.max_steps} heldout_loss={heldout['loss']:.6f} "
                f"heldout_reward_accuracy={heldout['reward_accuracy']:.4f}")

    # ---- save --------------------------------------------------------------------------------------
    if d.is_main:
        module = unwrap(wrapped).to("cpu").eval()
        body = module.policy if pc.objective == "dpo" else module.body
        digest = checksum(module.state_dict())
        version = artifact_version(parent, pc.objective, channel.version, digest)
        metrics = {"train_loss": train_loss, "steps": cfg.max_steps, "pairs_train": len(train_pairs),
                   "pairs_heldout": len(held_pairs), **{f"heldout_{k}": v for k, v in heldout.items()}}
        training = {"objective": pc.objective, "beta": pc.beta, "label_smoothing": pc.label_smoothing,
                    "rpo_alpha": pc.rpo_alpha,
                    "world_size": d.world_size, "weights_sha256": digest, "dropped": dict(dropped),
                    "hyperparameters": {k: v for k, v in cfg.to_dict().items() if not k.endswith(("_dir", "_file"))}}
        if pc.objective == "dpo":
            save_artifact(cfg.model_dir, body, tokenizer, version=version, data_version=channel.version,
                          metrics=metrics, parent_version=parent, training=training)
        else:
            save_reward_model(cfg.model_dir, module, tokenizer, version=version, data_version=channel.version,
                              metrics=metrics, parent_version=parent, training=training)
        Path(cfg.output_data_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.output_data_dir) / "metrics.json").write_text(
            json.dumps({"version": version, "metrics": metrics, "history": history}, indent=2))
        out.log(f"saved {pc.objective} model version={version} dir={cfg.model_dir}")
    barrier(d)
    return 0


@torch.no_grad()
def evaluate_pairs(model, losses, pairs: list[EncodedPair], batch_size: int, d, key_offset: int) -> dict:
    """Mean loss, implicit-reward margin and accuracy over every held-out pair, split across ranks."""
    if not pairs:
        return {}
    was_training = model.training
    model.eval()
    totals = torch.zeros(4, device=d.device, dtype=torch.float64)
    mine = list(range(d.rank, len(pairs), d.world_size))
    for i in range(0, len(mine), batch_size):
        keys = mine[i:i + batch_size]
        loss, chosen, rejected = losses(model, [pairs[k] for k in keys], [key_offset + k for k in keys])
        margin = (chosen - rejected).double()
        totals += torch.stack([loss.double() * len(keys), margin.sum(),
                               (margin > 0).double().sum() + 0.5 * (margin == 0).double().sum(),
                               torch.tensor(float(len(keys)), dtype=torch.float64, device=d.device)])
    all_reduce(totals, d)
    model.train(was_training)
    n = float(totals[3])
    return {"loss": float(totals[0]) / n, "reward_margin": float(totals[1]) / n,
            "reward_accuracy": float(totals[2]) / n}
