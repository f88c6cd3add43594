"""The canary controller Lambda (`functions/canary/handler.py`) against moto server: it reads the canary's
counts from CloudWatch as the API's Lambdas publish them, and promotes or rolls back through the routing
table's conditional writes. Run: .venv/bin/python -m pytest -q tests/feedback/test_canary_controller.py"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flywheel.feedback.gate import RoutingRecord, start_canary

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "canary" / "handler.py"
CONFIG = {"share": 0.5, "bake_seconds": 0, "min_requests": 4, "max_error_rate": 0.25, "min_feedback": 4,
          "max_thumbs_down_rate": 0.5}


@pytest.fixture(scope="module")
def handler(moto_stack):
    spec = importlib.util.spec_from_file_location("canary_handler_under_test", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def canary(moto_stack, monkeypatch):
    """A route of its own with champion `v1` and a fresh canary version at 50%, started 5 s ago."""
    from flywheel.feedback.rollout import write_transition

    route, version = f"canary-{uuid.uuid4().hex[:8]}", f"canary-{uuid.uuid4().hex[:8]}"
    table = moto_stack.names.dynamo_table("routing")
    base = RoutingRecord(route=route, champion="v1")
    write_transition(table, None, base)
    from flywheel.feedback.gate import CanaryConfig

    write_transition(table, base, start_canary(base, version, CanaryConfig.from_dict(CONFIG), time.time() - 5))
    for key, value in {**moto_stack.env(), "CANARY_ROUTE": route, "CANARY_CONFIG": json.dumps(CONFIG),
                       "POWERTOOLS_SERVICE_NAME": "canary", "POWERTOOLS_METRICS_NAMESPACE": "Flywheel",
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(key, value)
    return table, route, version


def _tick(handler):
    from flywheel.local.api import LambdaContext

    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    return handler.lambda_handler(event, LambdaContext("canary", str(uuid.uuid4()), 60))


@contextlib.contextmanager
def _published():
    """What CloudWatch Logs does with a Lambda's stdout: its EMF lines become metrics (in moto)."""
    from flywheel.observability.local_sink import EmfBridge

    bridge, printed = EmfBridge(), io.StringIO()
    with contextlib.redirect_stdout(printed):
        yield bridge
    bridge.feed_lines(printed.getvalue().splitlines())
    bridge.flush()


def _thumbs(moto_stack, version: str, ratings: list[str]) -> None:
    """Thumbs on completions of `version`, through the feedback function's own code; its EMF lines are
    published to CloudWatch the way CloudWatch Logs publishes a Lambda's."""
    from flywheel.api.feedback import record_feedback
    from flywheel.api.lake import remember_interaction
    from flywheel.api.schemas import FeedbackRequest
    from flywheel.api.settings import FeedbackSettings
    settings = FeedbackSettings.from_env()
    with _published() as bridge:
        for rating in ratings:
            completion = f"chatcmpl-{uuid.uuid4().hex}"
            remember_interaction(settings.interactions_table, completion_id=completion, request_id=str(uuid.uuid4()),
                                 model_version=version, n=1, created=int(time.time()), ttl_days=1)
            record_feedback(FeedbackRequest(completion_id=completion, thumbs=rating), settings)
    assert bridge.published_names >= {"Feedback"}, bridge.malformed


def _answered(version: str, n: int) -> None:
    """n chat requests answered by `version`, as the chat function emits them."""
    from flywheel.api.telemetry import emit

    with _published() as bridge:
        for _ in range(n):
            emit("Requests", 1, Route="chat", ModelVersion=version)
    assert bridge.documents == n, bridge.malformed


def test_thumbs_down_rolls_the_canary_back(handler, canary, moto_stack):
    from flywheel.feedback.rollout import read_route

    table, route, version = canary
    first = _tick(handler)
    assert first["action"] == "wait" and first["stats"]["requests"] == 0  # nothing served yet: no evidence
    _answered(version, 6)
    _thumbs(moto_stack, version, ["down", "down", "up", "down", "down"])
    outcome = _tick(handler)
    assert outcome["action"] == "rollback", outcome
    assert outcome["stats"] == {"requests": 6, "errors": 0, "thumbs_up": 1, "thumbs_down": 4, "error_rate": 0.0,
                                "thumbs_down_rate": 0.8}
    stored = read_route(table, route)
    assert (stored.champion, stored.canary, stored.canary_share, stored.state) == ("v1", None, 0.0, "rolled_back")
    assert "thumbs-down rate 0.800" in stored.reason
    assert _tick(handler)["action"] == "idle"  # nothing left to decide


def test_a_clean_canary_is_promoted_after_its_bake(handler, canary, moto_stack):
    from flywheel.feedback.rollout import read_route

    table, route, version = canary
    _answered(version, 5)
    _thumbs(moto_stack, version, ["up", "up", "down", "up"])
    outcome = _tick(handler)
    assert outcome["action"] == "promote" and outcome["stats"]["thumbs_down_rate"] == 0.25, outcome
    stored = read_route(table, route)
    assert (stored.champion, stored.canary, stored.state) == (version, None, "promoted")


def test_errors_named_by_the_canary_version_roll_it_back(handler, canary, moto_stack):
    version = canary[2]
    _answered(version, 4)
    # Errors series that carry the version (any error type on this route) count as the canary's failures.
    moto_stack.client("cloudwatch").put_metric_data(Namespace="Flywheel", MetricData=[
        {"MetricName": "Errors", "Value": 2.0, "Unit": "Count",
         "Dimensions": [{"Name": "service", "Value": "api"}, {"Name": "ErrorType", "Value": "ModelError"},
                        {"Name": "Route", "Value": "chat"}, {"Name": "ModelVersion", "Value": version}]}])
    outcome = _tick(handler)
    assert outcome["action"] == "rollback" and outcome["stats"]["errors"] == 2, outcome
    assert outcome["stats"]["requests"] == 6 and "error rate 0.333" in outcome["reason"]


def test_bad_configuration_is_a_clear_error(handler, canary, monkeypatch):
    monkeypatch.setenv("CANARY_CONFIG", json.dumps({"bake_minutes": 5}))
    with pytest.raises(ValueError, match="unknown canary settings"):
        _tick(handler)
    monkeypatch.setenv("CANARY_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not JSON"):
        _tick(handler)


def test_the_handler_imports_no_torch():
    code = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('h', {str(HANDLER)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'numpy', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"POWERTOOLS_SERVICE_NAME": "canary", "POWERTOOLS_METRICS_NAMESPACE": "Flywheel",
                              "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stdout
