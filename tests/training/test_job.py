"""The training job as SageMaker runs it: environment contract in, artifact and metrics out."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from flywheel.data.shards import Channel
from flywheel.model.artifact import load_artifact
from flywheel.training import job
from flywheel.training.report import Reporter

from .conftest import VAL_LOSS, job_args, job_env, train_losses


def test_sagemaker_contract_run_writes_a_loadable_artifact(tmp_path, pretrain_channel):
    """Channels, model dir and output dirs come from SM_* variables only, as on SageMaker."""
    env = job_env(SM_CHANNEL_TRAIN=str(pretrain_channel), SM_CHANNEL_VALIDATION=str(pretrain_channel),
                  SM_MODEL_DIR=str(tmp_path / "opt-ml-model"), SM_OUTPUT_DATA_DIR=str(tmp_path / "out-data"),
                  SM_OUTPUT_DIR=str(tmp_path / "opt-ml-output"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "flywheel"), "train", "--preset", "debug", "--max-steps", "20", "--eval-every", "10",
         "--log-every", "5", "--checkpoint-dir", str(tmp_path / "ckpt"), "--checkpoint-every", "10"],
        capture_output=True, text=True, timeout=240, env=env, check=False)
    assert result.returncode == 0, result.stderr
    losses = train_losses(result.stdout)
    assert sorted(losses) == [5, 10, 15, 20]
    assert losses[20] < losses[5], "training must reduce the loss"
    assert [int(s) for s, _ in VAL_LOSS.findall(result.stdout)] == [10, 20]
    assert re.search(r"tokens_per_sec=[0-9.]+", result.stdout)
    assert "\r" not in result.stdout, "no progress bar when stdout is not a terminal"

    artifact = load_artifact(tmp_path / "opt-ml-model")
    meta = artifact.meta
    assert meta["data_version"] == Channel.open(pretrain_channel).data_version == "stdlib-docs-test-v1"
    assert meta["metrics"]["steps"] == 20
    assert abs(meta["metrics"]["train_loss"] - losses[20]) < 1e-5
    assert meta["metrics"]["val_loss"] > 0
    assert meta["version"].startswith("debug-pretrain-stdlib-docs-test-v1-")
    assert meta["version"].endswith(meta["training"]["weights_sha256"][:8])
    history = json.loads((tmp_path / "out-data" / "metrics.json").read_text())
    assert history["version"] == meta["version"]
    assert max(p.name for p in (tmp_path / "ckpt").iterdir()) == "step_00000020.pt"
    assert not (tmp_path / "opt-ml-output" / "failure").exists()


def test_fine_tune_from_a_packed_artifact(tmp_path, pretrain_channel, tiny_artifact):
    """--init-from takes a model.tar.gz (the champion) and records it as the parent."""
    from flywheel.model.artifact import pack

    archive = pack(tiny_artifact, tmp_path / "champion" / "model.tar.gz")
    assert job.main(job_args(tmp_path, pretrain_channel, "--init-from", str(archive), "--max-steps", "5",
                             "--warmup-steps", "2", "--log-every", "5", "--eval-every", "0")) == 0
    meta = load_artifact(tmp_path / "model").meta
    assert meta["parent_version"] == "test-v1"
    assert meta["version"].startswith("test-v1-pretrain-")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal():
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        reporter = Reporter(True, total_steps=4, stream=stream)
        reporter.progress(1)
        reporter.log("step=1 train_loss=1.000000")
        reporter.progress(2)
    assert "\r[#######" in terminal.getvalue() and "2/4" in terminal.getvalue()
    assert "step=1 train_loss=1.000000\n" in terminal.getvalue()
    assert pipe.getvalue() == "step=1 train_loss=1.000000\n"


def test_saved_run_prints_its_curve_as_catalogue_emf_lines(tmp_path, pretrain_channel, capsys):
    """train_loss / val_loss / tokens_per_sec under the saved model's version, as CloudWatch would take them."""
    from flywheel.observability.local_sink import parse_emf

    assert job.main(job_args(tmp_path, pretrain_channel, "--max-steps", "6", "--warmup-steps", "2",
                             "--log-every", "2", "--eval-every", "3", "--eval-batches", "1")) == 0
    stdout = capsys.readouterr().out
    version = load_artifact(tmp_path / "model").meta["version"]
    history = json.loads((tmp_path / "output" / "metrics.json").read_text())["history"]
    published: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        for _namespace, datum in parse_emf(line) or []:
            dims = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            if dims == {"service": "training", "ModelVersion": version}:
                published.setdefault(datum["MetricName"], []).extend(
                    v for v, c in zip(datum["Values"], datum["Counts"]) for _ in range(int(c)))
    for name in ("train_loss", "val_loss", "tokens_per_sec"):
        expected = [h[name] for h in history if name in h]
        assert sorted(published[name]) == sorted(expected), name
    assert len(published["train_loss"]) == 3 and len(published["val_loss"]) == 2  # steps 2, 4, 6; 3 and 6
