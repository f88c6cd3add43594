"""End to end: one whole turn at the `tiny` size, through `flywheel turn`, judged by what it wrote.

Runs the real thing once per module (a moto server, the cleaning, training, preference and evaluation
jobs as processes, the inference server, the local endpoint and API, the `openai` client) — about
2-3 minutes on 2 shared cores — then checks the report against itself and against the gate's rules
recomputed here: the verdict follows from the evaluation's numbers, the routing and the registry follow
the verdict, the canary controller's rollout follows the counts it read back from CloudWatch, the
Constitutional AI stages' pairs reach the preference round, and the deployed model traces back through
the lake to a cleaned data version.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

STAGES = ("corpus", "clean", "clean_chats", "train", "fine_tune", "evaluate", "register_deploy", "serve_users",
          "build_preferences", "constitution", "merge_preferences", "preference_tune", "evaluate_challenger",
          "register_deploy_challenger", "bake_canary", "lineage")


@pytest.fixture(scope="module")
def turn(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("turn")
    proc = subprocess.run([sys.executable, "-m", "flywheel.cli", "turn", "--out", str(out), "--size", "tiny",
                           "--seed", "1"], check=False, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "report.json").read_text())


def wilson_lower(p: float, n: int, z: float = 1.6448536) -> float:
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def test_report_holds_the_round_and_the_stage_timings(turn):
    out, report = turn
    pr = report["preference_round"]
    assert set(pr) >= {"metric", "champion", "challenger", "margin", "gate"}
    assert pr["gate"] in ("pass", "fail")
    assert pr["metric"] == "win_rate_judge"
    assert 0.0 <= pr["challenger"] <= 1.0
    assert pr["champion"] == pytest.approx(1.0 - pr["challenger"])
    assert pr["margin"] == pytest.approx(pr["challenger"] - pr["champion"])
    assert [s["stage"] for s in report["stages"]] == list(STAGES)
    assert all(s["seconds"] >= 0 for s in report["stages"])
    assert sum(s["seconds"] for s in report["stages"]) <= report["total_seconds"] + 1
    for name in ("report.md", "report.html"):
        assert "Preference round" in (out / name).read_text()
    charts = sorted((out / "charts").glob("*.png"))
    assert {p.name for p in charts} == {"loss.png", "win_rates.png", "safety.png", "latency.png", "feedback.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in charts)


def test_gate_verdict_follows_from_the_evaluation_numbers(turn):
    _, report = turn
    ev = report["challenger"]["evaluation"]
    config = ev["config"]
    rate, n = ev["win_rate"]["judge"], ev["win_rate"]["comparisons"]
    assert report["preference_round"]["challenger"] == pytest.approx(rate)
    challenger, champion = ev["models"]["challenger"], ev["models"]["champion"]
    wins = n >= config["min_comparisons"] and wilson_lower(rate, n) >= 0.5 + config["min_win_margin"]
    safe = challenger["flag_rate"] <= champion["flag_rate"] + config["max_flag_rate_increase"]
    loss_ok = challenger["heldout_loss"] <= champion["heldout_loss"] * (1 + config["max_loss_regression"])
    expected = "pass" if (wins and safe and loss_ok) else "fail"
    assert ev["gate"] == report["preference_round"]["gate"] == report["challenger"]["gate"] == expected


def test_registry_and_routing_follow_the_gate(turn):
    _, report = turn
    first, second = report["first_model"], report["challenger"]
    assert first["gate"] == "pass" and first["deployed"]
    assert first["package"]["approval"] == "Approved"
    assert first["routing"]["champion"] == first["version"] and first["routing"]["state"] == "stable"
    routing = second["routing"]
    if second["gate"] == "pass":
        assert second["package"]["approval"] == "Approved" and second["deployed"]
        assert routing["state"] == "canary" and routing["canary"] == second["version"]
        assert routing["champion"] == first["version"] and 0 < routing["canary_share"] < 1
        assert routing["revision"] == first["routing"]["revision"] + 1
    else:
        assert second["package"]["approval"] == "Rejected" and not second["deployed"]
        assert routing == first["routing"]


def test_users_fed_back_through_the_api_into_preferences(turn):
    _, report = turn
    serving, prefs = report["serving"], report["preferences"]
    assert serving["errors"] == 0
    # The round's prompts are benign: the input guard may refuse a few (false positives), not most.
    assert serving["filtered"] <= serving["requests"] // 10
    answered = serving["requests"] - serving["filtered"]
    assert answered == len(serving["latency_s"])
    assert serving["feedback_sent"] + serving["ties"] == answered
    assert 0 < prefs["pairs"] <= serving["feedback_sent"]
    assert report["challenger"]["evaluation"]["inputs"]["heldout_pairs"] >= 0


def test_deployed_model_traces_to_its_data_version(turn):
    _, report = turn
    second = report["challenger"]
    promoted = report["rollout"]["decision"] == "promote"
    deployed = second["version"] if promoted else report["first_model"]["version"]
    lineage = report["deployed"]["lineage"]
    chain = lineage["chain"]
    assert chain[0]["model_version"] == lineage["model_version"] == deployed
    assert chain[-1]["zone"] == "curated"
    assert lineage["data_version"] == chain[-1]["data_version"] == report["data"]["sft"]["data_version"]
    assert lineage["data_version"] in report["data"]["lake_versions"]
    if promoted:
        # The challenger trained on the users' pairs plus the constitution's: a preference version of its own.
        assert chain[0]["zone"] == "preferences"
        assert chain[0]["data_version"] == report["preference_data"]["version"]
        assert report["preference_data"]["version"].startswith(report["preferences"]["manifest"]["version"])
        assert chain[1]["model_version"] == report["first_model"]["version"]


def test_constitutional_ai_stages_feed_the_preference_round(turn):
    out, report = turn
    cai, data = report["constitution"], report["preference_data"]
    sl, rl = cai["supervised"], cai["ai_feedback"]
    assert cai["model"] == report["first_model"]["version"] and cai["prompts"] == report["size"]["cai_prompts"]
    assert sl["answers"] == cai["prompts"] and sl.get("clean", 0) + sl.get("revised", 0) == sl["answers"]
    assert rl.get("pairs", 0) + sum(v for k, v in rl.items() if k.startswith("dropped.")) == cai["prompts"]
    assert data["pairs"]["ai_feedback"] == rl.get("pairs", 0)
    # The training channel holds every source, each row tagged.
    channel = out / "jobs" / "preference_data" / "output"
    sources = {}
    for name in ("train.jsonl", "ai_feedback.jsonl", "cai_revisions.jsonl"):
        for line in (channel / name).read_text().splitlines():
            row = json.loads(line)
            sources[row["source"]] = sources.get(row["source"], 0) + 1
    assert sources.get("ai_feedback", 0) == data["pairs"]["ai_feedback"]
    assert sources.get("cai_revision", 0) == data["pairs"]["cai_revision"]
    manifest = json.loads((channel / "manifest.json").read_text())
    assert manifest["version"] == data["version"]
    assert manifest["pairs"]["train"] == sum(sources.values())


def test_the_canary_controller_decides_the_rollout(turn):
    _, report = turn
    rollout, second = report["rollout"], report["challenger"]
    if second["gate"] != "pass":
        assert rollout["decision"] == "none"
        return
    cfg, ticks = rollout["config"], rollout["ticks"]
    assert ticks[0]["action"] == "wait" and ticks[0]["stats"]["requests"] == 0  # before any traffic
    assert all(t["action"] == "wait" for t in ticks[:-1])
    last, served = ticks[-1], rollout["served"].get("canary", {"requests": 0, "thumbs_up": 0, "thumbs_down": 0})
    stats = last["stats"]
    # The controller's counts, read from CloudWatch, are the ones the users produced through the API.
    assert stats["requests"] == served["requests"] and stats["errors"] == 0
    assert (stats["thumbs_up"], stats["thumbs_down"]) == (served["thumbs_up"], served["thumbs_down"])
    feedback = stats["thumbs_up"] + stats["thumbs_down"]
    too_disliked = feedback >= cfg["min_feedback"] and stats["thumbs_down"] / feedback > cfg["max_thumbs_down_rate"]
    expected = "rollback" if too_disliked else "promote" if stats["requests"] >= cfg["min_requests"] else "undecided"
    assert rollout["decision"] == expected, rollout["reason"]
    state = {"promote": "promoted", "rollback": "rolled_back", "undecided": "canary"}[expected]
    assert rollout["routing"]["state"] == state
    champion = second["version"] if expected == "promote" else report["first_model"]["version"]
    assert rollout["routing"]["champion"] == champion


def test_api_metrics_read_back_from_cloudwatch_match_what_the_users_sent(turn):
    out, report = turn
    serving, metrics, emf = report["serving"], report["metrics"], report["emf"]
    assert emf["malformed"] == 0, emf["malformed_reasons"]
    answered = serving["requests"] - serving["filtered"] - serving["errors"]
    # One Requests datum per answered chat and per feedback post; Latency and tokens per answered chat.
    assert metrics["Requests"]["SampleCount"] == metrics["Requests"]["Sum"] == answered + serving["feedback_sent"]
    assert metrics["Latency"]["SampleCount"] == answered == len(serving["latency_s"])
    assert metrics["Latency"]["Unit"] == "Milliseconds"
    assert metrics["TokensIn"]["SampleCount"] == metrics["TokensOut"]["SampleCount"] == answered
    assert metrics["Feedback"]["SampleCount"] == serving["feedback_sent"]
    assert metrics.get("Errors", {}).get("SampleCount", 0) == serving["filtered"] + serving["errors"]
    # The handler times inside the client's round trip: never longer, summed over the same requests.
    assert 0 < metrics["Latency"]["Sum"] <= sum(serving["latency_s"]) * 1000
    assert metrics["TimeToFirstToken"]["SampleCount"] > 0  # the inference server's lines were published too
    table = (out / "report.md").read_text()
    assert f"| Latency | Milliseconds | {answered} |" in table
