"""The EMF forwarder Lambda against a real moto server, fed a real CloudWatch Logs subscription delivery
(JSON, gzip, base64 under `awslogs.data`), as subscription filters on the SageMaker log groups send it.

    .venv/bin/python -m pytest -q tests/observability/test_emf_forwarder.py
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flywheel.local.api import LambdaContext
from flywheel.observability.catalogue import emf_line

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "emf_forwarder" / "handler.py"


def delivery(messages: list[str], *, group: str = "/aws/sagemaker/Endpoints/flywheel-test-endpoint",
             kind: str = "DATA_MESSAGE") -> dict:
    """A subscription delivery exactly as CloudWatch Logs sends it to a Lambda."""
    now = int(time.time() * 1000)
    payload = {"messageType": kind, "owner": "123456789012", "logGroup": group,
               "logStream": "AllTraffic/i-0123456789abcdef0", "subscriptionFilters": ["flywheel-test-emf"],
               "logEvents": [{"id": str(36000000000000000000000000000000000000000000000000000000 + i),
                              "timestamp": now, "message": m} for i, m in enumerate(messages)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


@pytest.fixture(scope="module")
def handler(moto_stack, monkeypatch_module):
    monkeypatch_module.setenv("POWERTOOLS_METRICS_NAMESPACE", "Flywheel")
    monkeypatch_module.setenv("POWERTOOLS_SERVICE_NAME", "emf-forwarder")
    spec = importlib.util.spec_from_file_location("emf_forwarder_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _detailed_sum(cw, name: str, dims: dict[str, str], since: float) -> float:
    answer = cw.get_metric_data(StartTime=since - 60, EndTime=time.time() + 60, MetricDataQueries=[{
        "Id": "q", "MetricStat": {"Period": 60, "Stat": "Sum", "Metric": {
            "Namespace": "Flywheel", "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]}}}])
    return sum(answer["MetricDataResults"][0]["Values"])


def test_forwarder_publishes_a_subscription_delivery(handler, moto_stack):
    version = f"v-fwd-{uuid.uuid4().hex[:8]}"
    since = time.time()
    lines = [
        "2026-11-28 01:00:00 INFO flywheel.serving: an ordinary container log line",
        emf_line("TimeToFirstToken", 40.0, {"ModelVersion": version}),
        emf_line("TimeToFirstToken", 60.0, {"ModelVersion": version}),
        # Two documents in one event (a container that wrote both before the agent read a line).
        emf_line("train_loss", 2.5, {"ModelVersion": version}) + "\n" + emf_line("train_loss", 2.25, {"ModelVersion": version}),
        '{"_aws": {"Timestamp": "later"}}',
        emf_line("ModelLoads", 1, {"ModelVersion": version}, namespace="SomeoneElse"),
    ]
    result = handler(delivery(lines), LambdaContext("emf-forwarder", str(uuid.uuid4()), 30))
    assert result["lines"] == 7 and result["documents"] == 4
    assert result["metrics"] == ["TimeToFirstToken", "train_loss"]
    assert result["dropped"] == {"_aws.Timestamp is missing or not a number (epoch milliseconds)": 1,
                                 "namespace SomeoneElse is not forwarded": 1}
    cw = moto_stack.client("cloudwatch")
    detail = {"service": "serving", "ModelVersion": version}
    assert _detailed_sum(cw, "TimeToFirstToken", detail, since) == 100.0
    assert _detailed_sum(cw, "train_loss", {"service": "training", "ModelVersion": version}, since) == 4.75
    listed = cw.list_metrics(Namespace="SomeoneElse").get("Metrics", [])
    assert listed == []


def test_control_message_is_acknowledged(handler):
    result = handler(delivery(["CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."],
                              kind="CONTROL_MESSAGE"), LambdaContext("emf-forwarder", "c-1", 30))
    assert result["datums"] == 0 and result["lines"] == 0


def test_handler_imports_no_torch_and_needs_its_namespace(moto_stack):
    code = (f"import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('h', {str(HANDLER)!r})\n"
            f"m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            f"print(sorted(n for n in ('torch', 'numpy', 'pyarrow', 'awswrangler') if n in sys.modules))\n")
    env = {**moto_stack.env(), "PATH": "/usr/bin:/bin", "POWERTOOLS_METRICS_NAMESPACE": "Flywheel"}
    done = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    env.pop("POWERTOOLS_METRICS_NAMESPACE")
    missing = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "POWERTOOLS_METRICS_NAMESPACE" in missing.stderr
