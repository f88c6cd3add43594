"""The preference-tuning job end to end on a debug-preset champion: DPO and reward model, contract paths."""

from __future__ import annotations

import json

import pytest

from flywheel.feedback.channel import read_pairs
from flywheel.feedback.reward import load_reward_model, score
from flywheel.feedback.tuning import parse_args, stream_indices
from flywheel.model.artifact import load_artifact
from flywheel.training.config import HyperparameterError


@pytest.fixture
def pair_channel(tmp_path, pairs_factory):
    directory = tmp_path / "prefs"
    directory.mkdir()
    with open(directory / "train.jsonl", "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in pairs_factory(24))
        f.write("{not json\n")
        f.write(json.dumps({"prompt": "q", "chosen": "a"}) + "\n")  # no rejected
    with open(directory / "heldout.jsonl", "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in pairs_factory(8, offset=100))
    (directory / "manifest.json").write_text(json.dumps({"version": "prefs-toy"}))
    return directory


def job_args(tmp_path, channel, champion, objective, *extra):
    return ["--objective", objective, "--init-from", str(champion), "--train-dir", str(channel),
            "--model-dir", str(tmp_path / objective / "model"), "--output-data-dir", str(tmp_path / objective / "out"),
            "--checkpoint-dir", str(tmp_path / objective / "ckpt"), "--failure-file", str(tmp_path / objective / "failure"),
            "--device", "cpu", *extra]


def test_channel_reads_splits_drops_and_version(pair_channel):
    ch = read_pairs(pair_channel)
    assert (len(ch.train), len(ch.heldout), ch.version) == (24, 8, "prefs-toy")
    assert dict(ch.dropped) == {"channel.malformed_json": 1, "channel.missing_prompt_chosen_or_rejected": 1}


def test_dpo_job_trains_from_the_champion_and_writes_an_artifact(tmp_path, pair_channel, tiny_artifact, capsys):
    from flywheel.feedback.tuning import main

    args = job_args(tmp_path, pair_channel, tiny_artifact, "dpo", "--max-steps", "8", "--lr", "2e-3",
                    "--batch-size", "8", "--checkpoint-every", "4", "--log-every", "4")
    assert main(args) == 0
    log = capsys.readouterr().out
    assert "step=8 train_loss=" in log and "heldout_loss=" in log
    challenger = load_artifact(tmp_path / "dpo" / "model")
    meta = challenger.meta
    assert meta["parent_version"] == "test-v1" and meta["data_version"] == "prefs-toy"
    assert meta["training"]["objective"] == "dpo"
    m = meta["metrics"]
    assert m["pairs_train"] == 24 and m["pairs_heldout"] == 8
    assert m["heldout_reward_accuracy"] == 1.0 and m["heldout_reward_margin"] > 0.3
    assert m["heldout_loss"] < 0.69 - 0.1  # log 2 at the start: the policy equals its reference
    metrics = json.loads((tmp_path / "dpo" / "out" / "metrics.json").read_text())
    assert metrics["version"] == meta["version"] and metrics["history"][-1]["step"] == 8
    assert sorted(p.name for p in (tmp_path / "dpo" / "ckpt").iterdir()) == ["step_00000004.pt", "step_00000008.pt"]
    # A second run over the same checkpoints resumes at the end instead of training again.
    assert main(args) == 0
    assert "resumed step=8" in capsys.readouterr().out


def test_reward_job_learns_the_preference(tmp_path, pair_channel, tiny_artifact):
    from flywheel.feedback.tuning import main

    args = job_args(tmp_path, pair_channel, tiny_artifact, "reward", "--max-steps", "20", "--lr", "1e-3",
                    "--grad-clip", "0", "--min-lr-ratio", "1")
    assert main(args) == 0
    rm, tok, meta = load_reward_model(tmp_path / "reward" / "model")
    assert meta["objective"] == "reward" and meta["metrics"]["heldout_reward_accuracy"] == 1.0
    held = read_pairs(pair_channel).heldout
    prompts = [p["prompt"] for p in held]
    chosen = score(rm, tok, prompts, [p["chosen"] for p in held])
    rejected = score(rm, tok, prompts, [p["rejected"] for p in held])
    assert all(c > r for c, r in zip(chosen, rejected))


def test_bad_hyperparameters_exit_2_with_a_failure_file(tmp_path, pair_channel, tiny_artifact):
    from flywheel.feedback.tuning import main

    assert main(job_args(tmp_path, pair_channel, tiny_artifact, "ppo")) == 2
    assert "objective" in (tmp_path / "ppo" / "failure").read_text()
    no_init = [a for a in job_args(tmp_path, pair_channel, tiny_artifact, "dpo") if a != str(tiny_artifact)]
    no_init.remove("--init-from")
    with pytest.raises(HyperparameterError, match="init-from"):
        parse_args(no_init, env={})


def test_rpo_alpha_is_parsed_checked_and_recorded(tmp_path, pair_channel, tiny_artifact):
    from flywheel.feedback.tuning import main

    assert parse_args(["--init-from", "x", "--rpo-alpha", "0.5"], env={}).rpo_alpha == 0.5
    with pytest.raises(HyperparameterError, match="rpo-alpha"):
        parse_args(["--init-from", "x", "--rpo-alpha", "-1"], env={})
    args = job_args(tmp_path, pair_channel, tiny_artifact, "dpo", "--max-steps", "2", "--rpo-alpha", "1.0")
    assert main(args) == 0
    meta = load_artifact(tmp_path / "dpo" / "model").meta
    assert meta["training"]["rpo_alpha"] == 1.0
    # The NLL term is in the loss: the first step's loss exceeds plain DPO's log 2 by about the chosen NLL.
    assert meta["metrics"]["train_loss"] > 0.69 + 1.0


def test_missing_channel_exits_1(tmp_path, tiny_artifact):
    from flywheel.feedback.tuning import main

    assert main(job_args(tmp_path, tmp_path / "nowhere", tiny_artifact, "dpo")) == 1
    assert "does not exist" in (tmp_path / "dpo" / "failure").read_text()


def test_sagemaker_channel_environment_is_the_default():
    pc = parse_args(["--init-from", "/opt/ml/input/data/champion"],
                    env={"SM_CHANNEL_PREFERENCES": "/opt/ml/input/data/preferences",
                         "SM_CHANNEL_HELDOUT": "/opt/ml/input/data/heldout", "SM_MODEL_DIR": "/opt/ml/model"})
    assert pc.train.train_dir == "/opt/ml/input/data/preferences"
    assert pc.train.validation_dir == "/opt/ml/input/data/heldout"
    assert pc.train.model_dir == "/opt/ml/model" and pc.objective == "dpo"


def test_stream_indices_cover_each_epoch_once_and_depend_only_on_position():
    first = stream_indices(10, seed=1, start=0, count=10)
    assert sorted(first) == list(range(10))
    assert stream_indices(10, 1, 7, 6) == stream_indices(10, 1, 0, 13)[7:]
    assert stream_indices(10, 1, 10, 10) != first  # a new epoch, a new order
