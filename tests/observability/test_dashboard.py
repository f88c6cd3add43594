"""The local dashboard's data against a real moto server: catalogue metrics read back from CloudWatch,
interaction records from the lake joined with their feedback from DynamoDB. (The page itself is tested
in a browser in tests/api/test_up.py.)

    .venv/bin/python -m pytest -q tests/observability/test_dashboard.py
"""

from __future__ import annotations

import json
import time

import pytest

from flywheel.local.dashboard import Dashboard, DashboardError
from flywheel.names import StackNames
from flywheel.observability.catalogue import emf_line
from flywheel.observability.emf import EmfBridge


@pytest.fixture(scope="module")
def dash_stack(moto_stack):
    """The session's moto server, with a lake and tables of a stack of its own, and metrics in a region of
    its own: moto keeps one CloudWatch store per region, and the other tests publish the same metric names
    under the same `service` roll-up (its get_metric_data also ignores the namespace given dimensions)."""
    from flywheel.local.stack import ensure_resources

    names = StackNames(project="flywheel", stack="dash")
    ensure_resources(names, moto_stack.endpoint_url, moto_stack.region)
    return moto_stack, names


def _cloudwatch(stack):
    """A CloudWatch client without retries, as `flywheel up` gives the dashboard (moto fails percentiles)."""
    import boto3
    from botocore.config import Config

    return boto3.client("cloudwatch", endpoint_url=stack.endpoint_url, region_name="eu-west-3",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1}))


def _record(completion_id: str, created: int, latency: float, flagged: bool) -> dict:
    return {"completion_id": completion_id, "request_id": f"r-{completion_id}", "created": created,
            "model_version": "v7", "policy_version": "compact",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"hi {completion_id}"}],
            "choices": ["hello", "hey"], "finish_reasons": ["stop", "length"], "latency_ms": latency,
            "input_moderation": {"flagged": flagged, "categories": {"harassment": flagged, "hate": False},
                                 "category_scores": {"harassment": 0.9 if flagged else 0.2, "hate": 0.01}},
            "input_attack": False,
            "output_checks": [{"flagged": False, "categories": [], "policy": None},
                              {"flagged": True, "categories": ["violence"], "policy": "content_filter:violence"}]}


def test_dashboard_data_reads_back_what_was_published(dash_stack):
    moto_stack, names = dash_stack
    cw, s3, ddb = _cloudwatch(moto_stack), moto_stack.client("s3"), moto_stack.client("dynamodb")
    bridge = EmfBridge(client=cw)
    bridge.feed_lines([emf_line("Requests", 1, {"Route": "chat", "ModelVersion": "v7"})
                       for _ in range(3)])
    bridge.feed_lines([emf_line("Feedback", 1, {"Kind": "thumbs", "Rating": r, "ModelVersion": "v7"})
                       for r in ("down", "up", "up")])
    bridge.feed_lines([emf_line("TimeToFirstToken", v, {"ModelVersion": "v7"}) for v in (10, 30)])
    assert bridge.flush() > 0

    now = int(time.time())
    firehose = moto_stack.client("firehose")
    for cid, created, latency, flagged in (("c-old", now - 5, 100.0, False), ("c-new", now, 300.0, True)):
        firehose.put_record(DeliveryStreamName=names.firehose_interactions,
                            Record={"Data": (json.dumps(_record(cid, created, latency, flagged)) + "\n").encode()})
    ddb.put_item(TableName=names.dynamo_table("feedback"), Item={
        "completion_id": {"S": "c-old"}, "feedback_id": {"S": "f1"}, "kind": {"S": "thumbs"},
        "value": {"S": json.dumps("down")}, "choice_index": {"N": "0"}, "model_version": {"S": "v7"},
        "created": {"N": str(now)}})

    data = Dashboard(names, cloudwatch=cw, s3=s3, dynamodb=ddb).data(minutes=15)
    metrics = {m["name"]: m for m in data["metrics"]}
    assert metrics["Requests"]["total"] == 3 and metrics["Requests"]["has_data"]
    by_rating = {s["label"]: sum(v for _, v in s["points"]) for s in metrics["Feedback"]["series"]
                 if s["rollup"] == ["service", "Kind", "Rating"]}
    assert by_rating == {"thumbs · down": 1, "thumbs · up": 2}
    ttft = {s["stat"]: [v for _, v in s["points"]] for s in metrics["TimeToFirstToken"]["series"]}
    assert ttft["Maximum"] == [30] and ttft["Minimum"] == [10] and ttft["Average"] == [20]
    assert not metrics["DriftScore"]["has_data"] and metrics["TimeToFirstToken"]["total"] is None
    # moto computes no percentiles: the records' latencies give them, and the page says so.
    assert metrics["Latency"]["percentiles"] == {"source": "interaction records", "count": 2, "p50": 200.0,
                                                 "p90": pytest.approx(280.0), "p99": pytest.approx(298.0)}

    rows = data["interactions"]
    assert [r["completion_id"] for r in rows] == ["c-new", "c-old"]
    new, old = rows
    assert new["prompt"] == "hi c-new" and new["input_moderation"]["flagged"]
    assert new["input_moderation"]["categories"] == ["harassment"]
    assert [c["flagged"] for c in new["output_checks"]] == [False, True] and new["feedback"] == []
    assert old["feedback"] == [{"kind": "thumbs", "value": "down", "choice_index": 0, "created": now}]
    assert old["input_moderation"]["top_score"] == ["harassment", 0.2]


def test_dashboard_refuses_bad_windows_and_unknown_files(dash_stack):
    moto_stack, names = dash_stack
    dash = Dashboard(names, cloudwatch=_cloudwatch(moto_stack), s3=moto_stack.client("s3"),
                     dynamodb=moto_stack.client("dynamodb"))
    with pytest.raises(DashboardError) as info:
        dash.data(minutes=0)
    assert info.value.status == 400
    with pytest.raises(DashboardError) as info:
        dash.asset("../__init__.py")
    assert info.value.status == 404
    page, kind = dash.asset("index.html")
    assert kind.startswith("text/html") and b"/dashboard/dashboard.js" in page
