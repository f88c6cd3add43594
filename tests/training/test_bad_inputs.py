"""Bad input: a clear message naming the problem, a non-zero exit, and the SageMaker failure file."""

from __future__ import annotations

import pytest

from flywheel.training import job

from .conftest import job_args, job_paths, run_train


@pytest.fixture(autouse=True)
def _no_sagemaker_env(monkeypatch):
    for name in ("SM_CHANNEL_TRAIN", "SM_CHANNEL_VALIDATION", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR",
                 "SM_OUTPUT_DIR", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _failure(root) -> str:
    return job_paths(root)["failure"].read_text()


@pytest.mark.parametrize("extra, message", [
    (["--max-steps", "0"], "--max-steps must be >= 1, got 0"),
    (["--bogus", "3"], "unrecognized arguments: --bogus 3"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--preset", "huge"], "--preset 'huge' is unknown"),
    (["--fsdp", "maybe"], "expected true or false, got 'maybe'"),
    (["--block-size", "4096"], "--block-size 4096 exceeds the model's context 64"),
])
def test_bad_hyperparameters(tmp_path, pretrain_channel, capsys, extra, message):
    assert job.main(job_args(tmp_path, pretrain_channel, *extra)) == 2
    assert message in capsys.readouterr().err
    assert message in _failure(tmp_path)
    assert "HyperparameterError" in _failure(tmp_path)


def test_missing_channel_in_a_real_process(tmp_path):
    result = run_train(job_args(tmp_path, tmp_path / "no-such-channel"))
    assert result.returncode == 1
    assert f"channel folder {tmp_path / 'no-such-channel'} does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert "ChannelError" in _failure(tmp_path)


def test_empty_channel(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert job.main(job_args(tmp_path, tmp_path / "empty")) == 1
    assert "is empty" in capsys.readouterr().err and "is empty" in _failure(tmp_path)


def test_failure_file_defaults_to_sm_output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "opt-ml-output"))
    assert job.main(["--train-dir", str(tmp_path / "nothing"), "--model-dir", str(tmp_path / "m")]) == 1
    assert "does not exist" in (tmp_path / "opt-ml-output" / "failure").read_text()


def test_corrupt_checkpoint(tmp_path, pretrain_channel, capsys):
    checkpoints = job_paths(tmp_path)["checkpoints"]
    checkpoints.mkdir()
    (checkpoints / "step_00000010.pt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    assert job.main(job_args(tmp_path, pretrain_channel, "--max-steps", "20")) == 1
    err = capsys.readouterr().err
    assert "step_00000010.pt is corrupt or unreadable" in err
    assert "CheckpointError" in _failure(tmp_path)
    assert not job_paths(tmp_path)["model"].exists()


def test_checkpoint_of_another_run_is_refused(tmp_path, pretrain_channel, capsys):
    run = ("--max-steps", "4", "--warmup-steps", "1", "--checkpoint-every", "2", "--eval-every", "0",
           "--batch-size", "2")
    assert job.main(job_args(tmp_path, pretrain_channel, *run, "--seed", "1")) == 0
    assert job.main(job_args(tmp_path, pretrain_channel, *run, "--seed", "2")) == 1
    assert "belongs to a different run (seed: checkpoint 1 vs now 2)" in capsys.readouterr().err


def test_init_from_a_model_with_another_tokenizer(tmp_path, pretrain_channel, corpus_texts, capsys):
    import torch

    from flywheel.model import GPT, preset
    from flywheel.model.artifact import save_artifact
    from flywheel.model.tokenizer import ChatTokenizer

    other = ChatTokenizer.train(corpus_texts[:40], vocab_size=400)
    save_artifact(tmp_path / "other", GPT(preset("debug", vocab_size=512)), other, version="other-v1")
    torch.manual_seed(0)
    assert job.main(job_args(tmp_path, pretrain_channel, "--init-from", str(tmp_path / "other"))) == 1
    assert "not tokenized with --init-from's tokenizer (other-v1)" in capsys.readouterr().err
    assert job.main(job_args(tmp_path, pretrain_channel, "--init-from", str(tmp_path / "nowhere"))) == 1
    assert "--init-from" in _failure(tmp_path) and "does not exist" in _failure(tmp_path)
