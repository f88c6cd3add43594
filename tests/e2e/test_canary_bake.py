"""Automatic rollback, for real: a canary whose answers users dislike is rolled back by the controller.

The turn's bake step (`flywheel.local.turn.Turn.bake_canary`) on its own, against the session's moto
server with a stack of its own: the tiny test model (random weights: its answers are never warm, so the
simulated users give them a thumbs down) is published twice, as champion and as a canary at half the
traffic; users chat through the local API (inference server, endpoint, Lambda handlers), their feedback's
EMF lines reach CloudWatch, and the canary controller Lambda's handler reads them and rolls back.
About 20-30 s on 2 shared cores. Run: .venv/bin/python -m pytest -q tests/e2e/test_canary_bake.py
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

POLICY = "Be helpful, honest and harmless. Refuse harmful requests."


def _short_policy_config(folder):
    """The packaged safety configuration with a policy short enough for the tiny model's 64-token context."""
    from flywheel.safety.config import DEFAULT_CONFIG_PATH

    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / "compact.txt").write_text(POLICY)
    config = json.loads(DEFAULT_CONFIG_PATH.read_text())
    config.update(policy_version="compact", policy_dir=str(folder / "policies"))
    (folder / "config.json").write_text(json.dumps(config))
    return folder / "config.json"


def test_a_canary_users_dislike_is_rolled_back(moto_stack, tiny_artifact, tmp_path, monkeypatch):
    from flywheel.feedback import rollout
    from flywheel.feedback.gate import RoutingRecord, start_canary
    from flywheel.local.api import publish_model
    from flywheel.local.stack import ensure_resources, stack_env
    from flywheel.local.turn import SIZES, Turn, canary_config
    from flywheel.names import StackNames

    names = StackNames(project="flywheel", stack="bake-test")
    ensure_resources(names, moto_stack.endpoint_url, moto_stack.region)
    s3 = moto_stack.client("s3")
    champion = publish_model(s3, names, tiny_artifact, "tiny-champion")
    canary = publish_model(s3, names, tiny_artifact, "tiny-canary")
    size = replace(SIZES["tiny"], max_tokens=8, bake_requests=16, bake_seconds=2.0)
    table = names.dynamo_table("routing")
    base = RoutingRecord(route="chat", champion=champion)
    rollout.write_transition(table, None, base)
    rollout.write_transition(table, base, start_canary(base, canary, canary_config(size), time.time()))

    env = {**stack_env(names, moto_stack.endpoint_url, moto_stack.region),
           "FLYWHEEL_SAFETY_CONFIG": str(_short_policy_config(tmp_path / "safety")), "FLYWHEEL_TORCH_THREADS": "1"}
    for key in ("FLYWHEEL_PROJECT", "FLYWHEEL_STACK"):  # the controller's table, in this process
        monkeypatch.setenv(key, env[key])
    turn = Turn(tmp_path / "turn", seed=0, size=size, preset="debug")
    turn.env = env
    result = turn.bake_canary(moto_stack, names)

    assert result["decision"] == "rollback", result
    first, last = result["ticks"][0], result["ticks"][-1]
    assert first["action"] == "wait" and first["stats"]["requests"] == 0
    served = result["served"]["canary"]
    assert served["version"] == canary and served["thumbs_down"] > served["thumbs_up"]
    # What the controller read from CloudWatch is what the users sent through the API.
    assert last["stats"]["requests"] == served["requests"]
    assert (last["stats"]["thumbs_up"], last["stats"]["thumbs_down"]) == (served["thumbs_up"], served["thumbs_down"])
    assert "thumbs-down rate" in last["reason"]
    stored = rollout.read_route(table)
    assert (stored.champion, stored.canary, stored.state) == (champion, None, "rolled_back")
    assert [h["candidate_share"] for h in result["share_history"]][-1] == 0.0
    assert set(result["controller_metrics"]) == {"CanaryShare", "Rollbacks"}
