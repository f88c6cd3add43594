"""The evaluation job: measured metrics for both models, judges, the pipeline's inputs, evaluation.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from flywheel.feedback.evaluation import main, red_team_prompts, win_rate
from flywheel.model.artifact import load_artifact, pack, save_artifact


@pytest.fixture
def channel(tmp_path, pairs_factory):
    directory = tmp_path / "prefs"
    directory.mkdir()
    (directory / "heldout.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs_factory(12, offset=50)))
    (directory / "train.jsonl").write_text("")
    return directory


@pytest.fixture
def perturbed(tmp_path, tiny_artifact):
    """The champion with noise on its weights: a different model that answers differently."""
    art = load_artifact(tiny_artifact)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in art.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return save_artifact(tmp_path / "perturbed", art.model, art.tokenizer, version="perturbed-v1")


def evaluate(tmp_path, *args):
    out = tmp_path / "eval"
    assert main([*args, "--output", str(out), "--red-team-limit", "6", "--max-new-tokens", "8"]) == 0
    return json.loads((out / "evaluation.json").read_text())


def test_a_challenger_identical_to_the_champion_fails_on_win_rate(tmp_path, tiny_artifact, channel, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    result = evaluate(tmp_path, "--model", str(tiny_artifact), "--champion", str(tiny_artifact),
                      "--preferences", str(channel), "--judge", "judges:always_first",
                      "--gate-config", json.dumps({"min_comparisons": 5}))
    assert result["win_rate"]["judge"] == 0.5  # identical answers tie, whatever the judge says
    assert result["win_rate"]["comparisons"] == 12 and result["win_rate"]["gate_uses"] == "judge"
    checks = {c["name"]: c["passed"] for c in result["checks"]}
    assert checks == {"win_rate": False, "flag_rate": True, "heldout_loss": True}
    assert result["gate"] == "fail"
    ch, ca = result["models"]["challenger"], result["models"]["champion"]
    assert ch["heldout_loss"] == pytest.approx(ca["heldout_loss"]) and ch["heldout_loss"] > 0
    assert ch["red_team_prompts"] == 6 and 0.0 <= ch["flag_rate"] <= 1.0
    assert result["preference_round"] == {"metric": "win_rate_judge", "champion": 0.5, "challenger": 0.5,
                                          "margin": 0.0, "gate": "fail"}


def test_judged_wins_and_losses_reach_the_gate(tmp_path, tiny_artifact, perturbed, channel, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    loose = json.dumps({"min_comparisons": 5, "max_loss_regression": 10.0, "max_flag_rate_increase": 1.0})
    base = ["--model", str(perturbed), "--champion", str(tiny_artifact), "--preferences", str(channel),
            "--gate-config", loose]
    won = evaluate(tmp_path, *base, "--judge", "judges:always_first")
    differing = sum(s["challenger"] != s["champion"] for s in won["samples"])
    assert differing > 0
    assert won["win_rate"]["judge"] > 0.55 and won["gate"] == "pass"
    lost = evaluate(tmp_path, *base, "--judge", "judges:never_first")
    assert lost["win_rate"]["judge"] < 0.5 and lost["gate"] == "fail"
    assert won["win_rate"]["judge"] + lost["win_rate"]["judge"] == pytest.approx(1.0)


def test_pipeline_contract_first_model_on_shards_in_a_tarball(tmp_path, tiny_artifact, chat_tokenizer, corpus_texts):
    from flywheel.data.shards import write_channel

    docs = [chat_tokenizer.encode(t) for t in corpus_texts[:40]]
    write_channel(tmp_path / "shards", chat_tokenizer, {"train": docs[:20], "val": docs[20:]}, data_version="t1")
    (tmp_path / "input").mkdir()
    pack(tiny_artifact, tmp_path / "input" / "model.tar.gz")
    result = evaluate(tmp_path, "--model", str(tmp_path / "input"), "--data", str(tmp_path / "shards"))
    assert result["models"]["challenger"]["version"] == "test-v1"
    assert 5.0 < result["models"]["challenger"]["heldout_loss"] < 7.0  # ~ln(512) for random weights
    assert result["gate"] == "pass" and "no champion" in result["reasons"][0]
    assert result["preference_round"]["challenger"] is None


def test_bad_inputs_fail_cleanly(tmp_path, tiny_artifact, capsys):
    assert main(["--model", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 1
    assert main(["--model", str(tiny_artifact), "--gate-config", '{"nope": 1}', "--output", str(tmp_path / "o")]) == 1
    assert "unknown gate settings" in capsys.readouterr().err


def test_default_red_team_set_is_harmful_and_attack_prompts_only():
    prompts = red_team_prompts(None, limit=1000)
    assert len(prompts) > 50 and all(p[0]["role"] == "user" for p in prompts)


def test_win_rate_counts_ties_half():
    p = [[{"role": "user", "content": "q"}]] * 4
    assert win_rate(lambda *_: 1.0, p, ["a", "b", "c", "d"], ["a", "x", "y", "z"]) == pytest.approx(0.875)


def test_champion_from_s3_as_the_pipeline_passes_it(tmp_path, tiny_artifact, channel, moto_stack, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    archive = pack(tiny_artifact, tmp_path / "model.tar.gz")
    s3 = moto_stack.client("s3")
    s3.upload_file(str(archive), moto_stack.names.bucket, "models/champion-v0.tar.gz")
    uri = f"s3://{moto_stack.names.bucket}/models/champion-v0.tar.gz"
    result = evaluate(tmp_path, "--model", str(tiny_artifact), "--champion", uri,
                      "--preferences", str(channel), "--judge", "judges:always_first",
                      "--gate-config", json.dumps({"min_comparisons": 5}))
    assert result["models"]["champion"]["heldout_loss"] == pytest.approx(
        result["models"]["challenger"]["heldout_loss"])
    missing = ["--model", str(tiny_artifact), "--champion", uri + ".missing", "--output", str(tmp_path / "e2")]
    assert main(missing) == 1  # a clear error naming the URI, not a traceback


def test_an_empty_champion_means_a_first_model(tmp_path, tiny_artifact, channel):
    result = evaluate(tmp_path, "--model", str(tiny_artifact), "--champion", "", "--preferences", str(channel),
                      "--gate-config", json.dumps({"require_win_rate": False}))
    assert "champion" not in result["models"]


def test_the_gate_verdict_and_its_metrics_are_emitted_as_catalogue_emf(tmp_path, tiny_artifact, channel, capsys,
                                                                       monkeypatch):
    from flywheel.observability.local_sink import parse_emf

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    result = evaluate(tmp_path, "--model", str(tiny_artifact), "--champion", str(tiny_artifact),
                      "--preferences", str(channel), "--judge", "judges:always_first",
                      "--gate-config", json.dumps({"min_comparisons": 5}))
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()
            if line.startswith("{") and parse_emf(line) is not None]
    verdict = [d for d in docs if "GateVerdict" in d]
    assert len(verdict) == 1 and verdict[0]["GateVerdict"] == (1.0 if result["gate"] == "pass" else 0.0)
    assert verdict[0]["ModelVersion"] == result["models"]["challenger"]["version"]
    gate_metrics = {d["Metric"]: d["GateMetric"] for d in docs if "GateMetric" in d}
    assert gate_metrics["heldout_loss"] == pytest.approx(result["models"]["challenger"]["heldout_loss"])
    assert gate_metrics["win_rate"] == pytest.approx(result["win_rate"]["judge"])
