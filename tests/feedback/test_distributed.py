"""The preference job under torchrun with two real processes (gloo on CPU) equals one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from flywheel.model.artifact import load_artifact

SCRIPT = Path(__file__).resolve().parents[2] / "training_jobs" / "preference.py"


def run(tmp_path, name, channel, champion, nproc, batch_size):
    out = tmp_path / name
    args = ["--objective", "dpo", "--init-from", str(champion), "--train-dir", str(channel),
            "--model-dir", str(out / "model"), "--output-data-dir", str(out / "out"),
            "--checkpoint-dir", str(out / "ckpt"), "--failure-file", str(out / "failure"),
            "--max-steps", "3", "--batch-size", str(batch_size), "--lr", "1e-3", "--device", "cpu",
            "--checkpoint-every", "0", "--log-every", "1"]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                 "--standalone"] if nproc > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([*launcher, str(SCRIPT), *args], check=False, capture_output=True, text=True, env=env,
                            timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout


@pytest.mark.slow  # ~25 s of CPU for three processes' start-up; `make test-slow` runs it
@torch.no_grad()
def test_two_ranks_match_one_process_with_the_same_global_batch(tmp_path, tiny_artifact, pairs_factory):
    channel = tmp_path / "prefs"
    channel.mkdir()
    (channel / "train.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs_factory(16)))
    (channel / "heldout.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs_factory(6, offset=50)))
    one, _ = run(tmp_path, "one", channel, tiny_artifact, nproc=1, batch_size=8)
    two, log = run(tmp_path, "two", channel, tiny_artifact, nproc=2, batch_size=4)
    assert "world_size=2" in log and log.count("step=3 train_loss=") == 1  # rank 0 alone logs
    a, b = load_artifact(one / "model"), load_artifact(two / "model")
    assert b.meta["training"]["world_size"] == 2
    # Rank r takes pairs [8s + 4r, 8s + 4r + 4) of the same stream one process reads 8 at a time, and DDP
    # averages the two halves' gradients: the same update up to the order of float sums.
    diff = max(float((pa - pb).abs().max()) for pa, pb in zip(a.model.parameters(), b.model.parameters()))
    assert diff < 1e-4
    moved = max(float((pa - p0).abs().max()) for pa, p0 in zip(a.model.parameters(),
                                                               load_artifact(tiny_artifact).model.parameters()))
    assert moved > 100 * max(diff, 1e-7)  # the training changed the weights far more than the ranks differ
    ma, mb = a.meta["metrics"], b.meta["metrics"]
    assert abs(ma["heldout_loss"] - mb["heldout_loss"]) < 1e-4
    assert torch.isfinite(torch.tensor(ma["heldout_loss"]))
