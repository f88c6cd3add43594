"""Two real processes under torchrun (gloo on CPU): DDP keeps every rank's replica identical."""

from __future__ import annotations

import re

import pytest
import torch

from flywheel.model.artifact import load_artifact

from .conftest import job_args, run_train, train_losses

CHECKSUM = re.compile(r"^rank=(\d+) param_checksum=([0-9a-f]{64})$", re.MULTILINE)


def test_two_ranks_end_with_identical_parameters(tmp_path, pretrain_channel):
    result = run_train(job_args(tmp_path, pretrain_channel, "--max-steps", "10", "--grad-accum", "2",
                                "--batch-size", "4", "--log-every", "5", "--eval-every", "0",
                                "--checkpoint-every", "0", "--dump-checksums", "true"), nproc=2)
    assert result.returncode == 0, result.stdout + result.stderr
    checksums = dict(CHECKSUM.findall(result.stdout))
    assert sorted(checksums) == ["0", "1"], result.stdout
    assert checksums["0"] == checksums["1"]
    assert "world_size=2" in result.stdout
    assert len(train_losses(result.stdout)) == 2, "rank 0 alone logs"
    meta = load_artifact(tmp_path / "model").meta
    assert meta["training"]["world_size"] == 2
    assert meta["training"]["weights_sha256"] == checksums["0"]


@pytest.mark.slow
def test_fsdp_follows_the_ddp_trajectory_and_saves_a_whole_model(tmp_path, pretrain_channel):
    run = ("--max-steps", "10", "--batch-size", "4", "--log-every", "1", "--eval-every", "0",
           "--checkpoint-every", "5", "--warmup-steps", "2")
    ddp = run_train(job_args(tmp_path / "ddp", pretrain_channel, *run), nproc=2)
    fsdp = run_train(job_args(tmp_path / "fsdp", pretrain_channel, *run, "--fsdp", "true"), nproc=2)
    assert ddp.returncode == 0 and fsdp.returncode == 0, ddp.stderr + fsdp.stderr
    expected, got = train_losses(ddp.stdout), train_losses(fsdp.stdout)
    assert sorted(got) == list(range(1, 11))
    assert all(abs(got[s] - expected[s]) < 1e-5 for s in expected), (got, expected)
    a = load_artifact(tmp_path / "ddp" / "model").model.state_dict()
    b = load_artifact(tmp_path / "fsdp" / "model").model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
