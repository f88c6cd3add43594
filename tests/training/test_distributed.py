"""Two real processes under torchrun (gloo on CPU): DDP keeps every rank's replica identical."""

from __future__ import annotations

import re

from conftest import job_args, run_train, train_losses

from flywheel.model.artifact import load_artifact

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
