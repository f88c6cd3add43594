"""Checkpoints: written atomically, found by themselves on restart, refused loudly when corrupt.

A checkpoint is one file, `step_<8 digits>.pt` in the checkpoint folder (SageMaker syncs
/opt/ml/checkpoints to S3 and restores it into a restarted spot job), holding:

    {"format": FORMAT, "step": completed optimizer steps, "model": full state dict, "optimizer": ...,
     "scheduler": ..., "rng": [per-rank torch RNG states], "data": {"seed", "step"},
     "fingerprint": what must match for a resume to continue the same run, "metrics": {...}}

It is written to a temporary file in the same folder, fsynced and renamed, so a kill at any moment
leaves either the old checkpoint set or the new one, never half a file. Loading uses
`torch.load(weights_only=True)`: a checkpoint holds tensors and plain values only, and nothing in it
can run code. This module knows nothing of models or distribution: it moves dicts to and from disk.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import torch

FORMAT = "flywheel-checkpoint-v1"
_NAME = re.compile(r"^step_(\d{8})\.pt$")
REQUIRED_KEYS = ("format", "step", "model", "optimizer", "scheduler", "rng", "data", "fingerprint")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or belongs to a different run."""


def checkpoint_path(directory: str | Path, step: int) -> Path:
    return Path(directory) / f"step_{step:08d}.pt"


def list_checkpoints(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def save_checkpoint(directory: str | Path, state: dict, keep: int = 2) -> Path:
    """Atomically write `state` as the checkpoint of `state["step"]`, then drop all but the newest `keep`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, state["step"])
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError…
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                              "delete it to fall back to an older one or to start over") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a {FORMAT} file")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


def check_fingerprint(path: str | Path, saved: dict, current: dict) -> None:
    """Refuse to resume a checkpoint written by a run that differs in anything that shapes the trajectory."""
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}"
             for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
    if diffs:
        raise CheckpointError(f"checkpoint {path} belongs to a different run ({'; '.join(diffs)}); "
                              "use another --checkpoint-dir or delete it")
