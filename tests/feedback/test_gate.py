"""The gate's every decision branch, and the canary's promotion, rollback, waiting and routing."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from flywheel.feedback.gate import (
    CanaryConfig,
    CanaryStats,
    GateConfig,
    ModelMetrics,
    RoutingError,
    RoutingRecord,
    decide,
    evaluate_canary,
    promote,
    rollback,
    route,
    start_canary,
    wilson_lower,
)

CHAMPION = ModelMetrics(heldout_loss=2.0, flag_rate=0.10, red_team_prompts=50)
GOOD = ModelMetrics(heldout_loss=2.01, flag_rate=0.08, red_team_prompts=50)


def check(decision, name):
    return next(c for c in decision.checks if c.name == name)


def test_a_better_challenger_passes():
    d = decide(GOOD, CHAMPION, win_rate=0.70, comparisons=100)
    assert d.passed and d.verdict == "pass"
    assert [c.name for c in d.checks] == ["win_rate", "flag_rate", "heldout_loss"]
    assert d.to_dict()["gate"] == "pass" and len(d.to_dict()["reasons"]) == 3


def test_win_rate_must_beat_the_margin():
    point = GateConfig(min_win_margin=0.05, win_confidence=0.0)
    d = decide(GOOD, CHAMPION, win_rate=0.54, comparisons=100, config=point)
    assert not d.passed and not check(d, "win_rate").passed
    assert check(d, "win_rate").threshold == pytest.approx(0.55)
    assert decide(GOOD, CHAMPION, 0.55, 100, point).passed  # exactly at the bar


def test_win_rate_must_clear_the_bar_with_confidence():
    # Measured in benchmarks/preference_rounds.py (24 judged prompts): a coin-flip round scored 0.688 and
    # a real round 0.771. The point estimate promotes both; the 95% lower bound only the real one.
    cfg = GateConfig(min_win_margin=0.05, min_comparisons=16)
    null = decide(GOOD, CHAMPION, 0.688, 24, cfg)
    assert not null.passed and "lower bound" in check(null, "win_rate").reason
    assert decide(GOOD, CHAMPION, 0.771, 24, cfg).passed
    assert decide(GOOD, CHAMPION, 0.688, 24, GateConfig(min_comparisons=16, win_confidence=0.0)).passed
    # The bound tightens with evidence: the same 0.62 fails over 100 prompts and passes over 1,000.
    assert not decide(GOOD, CHAMPION, 0.62, 100, cfg).passed
    assert decide(GOOD, CHAMPION, 0.62, 1000, cfg).passed
    # By hand: z = 1.6449, centre = 0.5, half = z * sqrt(0.25/24 + z^2/2304) / (1 + z^2/24) = 0.1592
    assert wilson_lower(0.5, 24, 0.95) == pytest.approx(0.3408, abs=1e-3)


def test_too_few_comparisons_fail():
    d = decide(GOOD, CHAMPION, win_rate=0.9, comparisons=5, config=GateConfig(min_comparisons=20))
    assert not d.passed and "not enough evidence" in check(d, "win_rate").reason


def test_missing_win_rate_fails_unless_optional():
    assert not decide(GOOD, CHAMPION, None, 0).passed
    assert not decide(GOOD, CHAMPION, math.nan, 100).passed
    d = decide(GOOD, CHAMPION, None, 0, GateConfig(require_win_rate=False))
    assert d.passed and "optional" in check(d, "win_rate").reason


def test_safety_must_be_no_worse():
    worse = ModelMetrics(heldout_loss=2.0, flag_rate=0.12)
    d = decide(worse, CHAMPION, 0.7, 100)
    assert not d.passed and not check(d, "flag_rate").passed
    assert decide(worse, CHAMPION, 0.7, 100, GateConfig(max_flag_rate_increase=0.05)).passed
    same = ModelMetrics(heldout_loss=2.0, flag_rate=0.10)
    assert decide(same, CHAMPION, 0.7, 100).passed  # equal is "no worse"
    capped = decide(GOOD, CHAMPION, 0.7, 100, GateConfig(max_flag_rate=0.05))
    assert not capped.passed and check(capped, "flag_rate").threshold == 0.05


def test_missing_safety_fails_unless_optional():
    unmeasured = ModelMetrics(heldout_loss=2.0)
    assert not decide(unmeasured, CHAMPION, 0.7, 100).passed
    assert decide(unmeasured, CHAMPION, 0.7, 100, GateConfig(require_safety=False)).passed


def test_loss_must_not_regress_beyond_tolerance():
    regressed = ModelMetrics(heldout_loss=2.05, flag_rate=0.05)
    d = decide(regressed, CHAMPION, 0.7, 100, GateConfig(max_loss_regression=0.02))
    assert not d.passed and check(d, "heldout_loss").threshold == pytest.approx(2.04)
    assert decide(regressed, CHAMPION, 0.7, 100, GateConfig(max_loss_regression=0.03)).passed
    nan = decide(ModelMetrics(heldout_loss=math.nan, flag_rate=0.0), CHAMPION, 0.7, 100)
    assert not nan.passed and "not finite" in check(nan, "heldout_loss").reason
    no_base = decide(GOOD, ModelMetrics(flag_rate=0.1), 0.7, 100)
    assert no_base.passed and "no champion loss" in check(no_base, "heldout_loss").reason


def test_first_model_faces_only_absolute_checks():
    d = decide(GOOD, None, None, 0)
    assert d.passed and "no champion" in check(d, "win_rate").reason
    assert not decide(GOOD, None, None, 0, GateConfig(max_flag_rate=0.01)).passed


def test_every_failing_check_is_reported():
    bad = ModelMetrics(heldout_loss=9.0, flag_rate=0.9)
    d = decide(bad, CHAMPION, 0.1, 100)
    assert [c.passed for c in d.checks] == [False, False, False]


def test_bad_gate_config_is_refused():
    with pytest.raises(ValueError):
        GateConfig(min_win_margin=0.6)
    with pytest.raises(ValueError, match="unknown gate settings"):
        GateConfig.from_dict({"min_win": 0.1})
    assert GateConfig.from_dict({"min_win_margin": 0.1}).min_win_margin == 0.1


# ---------------------------------------------------------------------------------------------- canary
CFG = CanaryConfig(share=0.2, bake_seconds=600, min_requests=50, max_error_rate=0.05, min_feedback=10,
                   max_thumbs_down_rate=0.4)


@pytest.fixture
def running():
    return start_canary(RoutingRecord(route="chat", champion="v1"), "v2", CFG, now=1000.0)


def test_start_canary_sets_the_share(running):
    assert (running.state, running.champion, running.canary, running.canary_share) == ("canary", "v1", "v2", 0.2)
    assert running.revision == 1 and running.history[-1]["state"] == "canary"
    with pytest.raises(RoutingError, match="still running"):
        start_canary(running, "v3", CFG, now=1001.0)
    with pytest.raises(RoutingError, match="already the champion"):
        start_canary(RoutingRecord(route="chat", champion="v1"), "v1", CFG, now=0)


def test_canary_waits_while_baking(running):
    v = evaluate_canary(running, CanaryStats(requests=500, errors=0), CFG, now=1000.0 + 599)
    assert v.action == "wait" and v.record is running and "baking" in v.reason


def test_canary_promotes_after_a_clean_bake(running):
    v = evaluate_canary(running, CanaryStats(requests=500, errors=5, thumbs_up=30, thumbs_down=5), CFG,
                        now=1000.0 + 600)
    assert v.action == "promote"
    assert (v.record.champion, v.record.canary, v.record.canary_share, v.record.state) == ("v2", None, 0.0,
                                                                                          "promoted")
    assert v.record.revision == running.revision + 1


def test_canary_waits_for_enough_requests_after_baking(running):
    v = evaluate_canary(running, CanaryStats(requests=10), CFG, now=1000.0 + 10_000)
    assert v.action == "wait" and "not enough evidence" in v.reason


def test_canary_rolls_back_on_errors_even_before_bake_ends(running):
    v = evaluate_canary(running, CanaryStats(requests=100, errors=6), CFG, now=1000.0 + 1)
    assert v.action == "rollback" and "error rate" in v.reason
    assert (v.record.champion, v.record.canary, v.record.state) == ("v1", None, "rolled_back")


def test_canary_rolls_back_on_thumbs_down(running):
    v = evaluate_canary(running, CanaryStats(requests=100, thumbs_up=5, thumbs_down=6), CFG, now=1000.0 + 700)
    assert v.action == "rollback" and "thumbs-down" in v.reason


def test_small_samples_do_not_trigger_rollback(running):
    # 1 error in 2 requests and 3 downs of 3 are rates of 50% and 100%, but not yet evidence.
    v = evaluate_canary(running, CanaryStats(requests=2, errors=1, thumbs_down=3), CFG, now=1000.0 + 5)
    assert v.action == "wait"


def test_no_canary_no_verdict():
    with pytest.raises(RoutingError):
        evaluate_canary(RoutingRecord(route="chat", champion="v1"), CanaryStats(), CFG, now=0)
    with pytest.raises(RoutingError):
        promote(RoutingRecord(route="chat", champion="v1"), now=0)
    with pytest.raises(RoutingError):
        rollback(RoutingRecord(route="chat", champion="v1"), now=0)


def test_after_rollback_a_new_canary_can_start(running):
    back = rollback(running, now=2000.0, reason="manual")
    again = start_canary(back, "v3", CFG, now=3000.0)
    assert again.canary == "v3" and again.revision == 3 and len(again.history) == 3


def test_routing_is_sticky_and_close_to_the_share(running):
    picks = [route(running, f"user-{i}") for i in range(4000)]
    share = picks.count("v2") / len(picks)
    assert 0.17 < share < 0.23
    assert all(route(running, f"user-{i}") == picks[i] for i in range(100))
    assert route(RoutingRecord(route="chat", champion="v1"), "user-1") == "v1"


def test_record_round_trips_through_a_dynamodb_item(running):
    item = running.to_item()
    item["canary_share"], item["canary_since"], item["revision"] = (Decimal("0.2"), Decimal(1000),
                                                                    Decimal(1))
    assert RoutingRecord.from_item(item) == running
    with pytest.raises(RoutingError, match="unknown state"):
        RoutingRecord.from_item({**running.to_item(), "state": "weird"})


def test_bad_canary_config_is_refused():
    with pytest.raises(ValueError):
        CanaryConfig(share=1.0)
    with pytest.raises(ValueError):
        CanaryConfig(max_error_rate=2.0)
