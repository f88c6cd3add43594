"""Rollout side effects on the local moto stack: conditional routing transitions and the model registry."""

from __future__ import annotations

import pytest

from flywheel.feedback.gate import CanaryConfig, CanaryStats, RoutingRecord, start_canary
from flywheel.names import StackNames

CFG = CanaryConfig(share=0.25, bake_seconds=100, min_requests=10, max_error_rate=0.1, min_feedback=5,
                   max_thumbs_down_rate=0.5)


@pytest.fixture
def stack_names(moto_stack):
    from flywheel.local.stack import ensure_resources

    names = StackNames(project="flywheel", stack="feedback-rollout-test")
    ensure_resources(names, moto_stack.endpoint_url, moto_stack.region)
    return names


def test_canary_promotes_through_conditional_writes(stack_names):
    from flywheel.api.routing import read_routing
    from flywheel.feedback.rollout import RoutingConflict, canary_step, read_route, write_transition

    table = stack_names.dynamo_table("routing")
    first = RoutingRecord(route="promote", champion="v1")
    write_transition(table, None, first)
    with pytest.raises(RoutingConflict):
        write_transition(table, None, first)  # a first record exists already
    canary = start_canary(read_route(table, "promote"), "v2", CFG, now=1000.0)
    write_transition(table, first, canary)
    # The API reads what the controller wrote.
    assert read_routing(table, "promote", max_age=0).canary == "v2"

    wait = canary_step(table, CanaryStats(requests=50), CFG, now=1050.0, route="promote")
    assert wait.action == "wait" and read_route(table, "promote") == canary
    done = canary_step(table, CanaryStats(requests=50, thumbs_up=9, thumbs_down=1), CFG, now=1100.0, route="promote")
    assert done.action == "promote"
    stored = read_route(table, "promote")
    assert (stored.champion, stored.canary, stored.state, stored.revision) == ("v2", None, "promoted", 2)
    # A decider holding the stale record loses: it cannot roll back what was already promoted.
    with pytest.raises(RoutingConflict, match="changed since revision 1"):
        write_transition(table, canary, canary)


def test_canary_rolls_back_on_thumbs_down(stack_names):
    from flywheel.feedback.rollout import canary_step, read_route, write_transition

    table = stack_names.dynamo_table("routing")
    base = RoutingRecord(route="rollback", champion="v1")
    write_transition(table, None, base)
    write_transition(table, base, start_canary(base, "v2", CFG, now=0.0))
    verdict = canary_step(table, CanaryStats(requests=20, thumbs_up=1, thumbs_down=6), CFG, now=10.0, route="rollback")
    assert verdict.action == "rollback"
    stored = read_route(table, "rollback")
    assert (stored.champion, stored.canary, stored.canary_share, stored.state) == ("v1", None, 0.0, "rolled_back")


def test_candidates_are_registered_with_their_verdict(moto_stack, stack_names):
    from flywheel.feedback.rollout import register_candidate

    evaluation = {"gate": "pass", "reasons": ["win rate 0.8 >= 0.55"],
                  "win_rate": {"judge": 0.8, "gate_uses": "judge", "comparisons": 24},
                  "models": {"challenger": {"flag_rate": 0.0, "heldout_loss": 1.23}}}
    passed = register_candidate(stack_names.model_package_group, "s3://bucket/models/v2.tar.gz",
                                "123456789012.dkr.ecr.us-east-1.amazonaws.com/flywheel-inference:latest",
                                evaluation, "v2")
    failed = register_candidate(stack_names.model_package_group, "s3://bucket/models/v3.tar.gz",
                                "123456789012.dkr.ecr.us-east-1.amazonaws.com/flywheel-inference:latest",
                                {**evaluation, "gate": "fail"}, "v3")
    sm = moto_stack.client("sagemaker")
    described = sm.describe_model_package(ModelPackageName=passed["arn"])
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["CustomerMetadataProperties"]["win_rate"] == "0.8"
    assert sm.describe_model_package(ModelPackageName=failed["arn"])["ModelApprovalStatus"] == "Rejected"
    listed = sm.list_model_packages(ModelPackageGroupName=stack_names.model_package_group)["ModelPackageSummaryList"]
    assert len(listed) >= 2


def test_canary_steps_emit_the_share_and_rollbacks():
    import json as _json

    from flywheel.feedback.gate import CanaryVerdict, RoutingRecord, rollback
    from flywheel.feedback.rollout import canary_metric_lines
    from flywheel.observability.local_sink import parse_emf

    live = RoutingRecord(route="chat", champion="v1", canary="v2", canary_share=0.1, state="canary")
    waiting = canary_metric_lines(live, CanaryVerdict("wait", live, "baking"))
    assert [_json.loads(x)["CanaryShare"] for x in waiting] == [10.0]
    rolled = canary_metric_lines(live, CanaryVerdict("rollback", rollback(live, 0.0, "errors"), "errors"))
    docs = [_json.loads(x) for x in rolled]
    assert all(parse_emf(x) for x in rolled)
    assert docs[0]["CanaryShare"] == 0.0 and docs[1]["Rollbacks"] == 1.0 and docs[1]["ModelVersion"] == "v2"
