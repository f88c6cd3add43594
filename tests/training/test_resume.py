"""Interruptions with real processes: SIGKILL then resume follows the uninterrupted trajectory;
SIGTERM checkpoints and exits cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys

import torch

from flywheel.model.artifact import load_artifact
from flywheel.training.checkpoint import list_checkpoints

from .conftest import TRAIN_SCRIPT, job_args, job_env, run_train, train_losses

RUN = ("--max-steps", "30", "--log-every", "1", "--checkpoint-every", "5", "--eval-every", "0",
       "--seed", "7", "--batch-size", "4", "--grad-accum", "2", "--warmup-steps", "5")


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(TRAIN_SCRIPT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=job_env())


def _read_until(proc: subprocess.Popen, prefix: str) -> str:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return "".join(seen)
    raise AssertionError(f"the job ended before printing {prefix!r}: {''.join(seen)} {proc.stderr.read()}")


def test_sigkill_and_resume_matches_an_uninterrupted_run(tmp_path, pretrain_channel):
    reference = run_train(job_args(tmp_path / "reference", pretrain_channel, *RUN))
    assert reference.returncode == 0, reference.stderr
    expected = train_losses(reference.stdout)
    assert sorted(expected) == list(range(1, 31))

    args = job_args(tmp_path / "killed", pretrain_channel, *RUN)
    proc = _start(args)
    before = _read_until(proc, "checkpoint step=10")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the job must die mid-run, not finish"
    assert not (tmp_path / "killed" / "model").exists()
    kept = list_checkpoints(tmp_path / "killed" / "checkpoints")
    resumed_from = int(kept[-1].stem.split("_")[1])
    assert resumed_from >= 10

    resumed = run_train(args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed step={resumed_from}" in resumed.stdout
    after = train_losses(resumed.stdout)
    assert sorted(after) == list(range(resumed_from + 1, 31)), "a resumed run redoes no finished step"
    for step, loss in {**train_losses(before), **after}.items():
        assert abs(loss - expected[step]) <= 1e-6 * max(1.0, abs(expected[step])), (step, loss, expected[step])

    a = load_artifact(tmp_path / "reference" / "model").model.state_dict()
    b = load_artifact(tmp_path / "killed" / "model").model.state_dict()
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)


def test_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path, pretrain_channel):
    args = job_args(tmp_path, pretrain_channel, "--max-steps", "100000", "--log-every", "5",
                    "--checkpoint-every", "0", "--eval-every", "0")
    proc = _start(args)
    _read_until(proc, "step=5 ")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert "interrupted step=" in stdout
    kept = list_checkpoints(tmp_path / "checkpoints")
    assert len(kept) == 1 and int(kept[0].stem.split("_")[1]) >= 5
    state = torch.load(kept[0], weights_only=True)
    assert state["step"] == int(kept[0].stem.split("_")[1]) and state["data"]["step"] == state["step"]
    assert not (tmp_path / "model").exists(), "an interrupted run writes no model"
    assert not (tmp_path / "failure").exists(), "an interruption is not a failure"
