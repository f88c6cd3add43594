"""The rollout's side effects: the routing record in DynamoDB and the candidate in the model registry.

The decisions are `flywheel.feedback.gate`'s pure functions; this module stores their results:

- `read_route` / `write_transition`: the routing record (one DynamoDB item per route, table
  `names.dynamo_table("routing")`, the item the API's `flywheel.api.routing` reads). A transition is a
  conditional write: it succeeds only if the stored revision is still the one the decider read
  (`attribute_not_exists(route)` for the first record), so two deciders never both act; the loser gets
  `RoutingConflict` and re-reads.
- `canary_step`: read → `evaluate_canary` → write, the canary controller's whole loop body.
- `canary_stats`: the canary's counts since it started, read from CloudWatch (the API's EMF metrics under
  the canary's ModelVersion): chat `Requests`, `Feedback` thumbs by Rating, and any `Errors` series that
  carries the version; `run_controller`: one scheduled tick (`functions/canary/handler.py` in AWS, the
  turn's bake step locally): no canary → idle; else stats → `canary_step`. A lost conditional write is a
  "conflict" answer, not a failure: the next tick decides again from the record that won.
- `register_candidate`: every candidate goes into the SageMaker model package group with its evaluation
  (win rate, flag rate, loss, the gate's verdict) as customer metadata, approved if the gate passed and
  rejected otherwise.

boto3 clients are built per call (after the local stack or Lambda environment has set the endpoint).
"""

from __future__ import annotations

import math
from decimal import Decimal

from flywheel.feedback.gate import CanaryConfig, CanaryStats, CanaryVerdict, RoutingRecord, evaluate_canary


class RoutingConflict(RuntimeError):
    """The routing record changed since it was read: someone else acted first."""


def _client(service: str):
    import boto3

    return boto3.client(service)


def _to_dynamo(value):
    if isinstance(value, float):
        return Decimal(str(value))  # DynamoDB numbers are decimals; str keeps the float's shortest form
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def read_route(table: str, route: str = "chat") -> RoutingRecord | None:
    from boto3.dynamodb.types import TypeDeserializer

    item = _client("dynamodb").get_item(TableName=table, Key={"route": {"S": route}}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    plain = TypeDeserializer()
    return RoutingRecord.from_item({k: plain.deserialize(v) for k, v in item.items()})


def write_transition(table: str, old: RoutingRecord | None, new: RoutingRecord) -> None:
    """Store `new` if the stored record is still `old` (by revision); else raise RoutingConflict."""
    from boto3.dynamodb.types import TypeSerializer

    wire = TypeSerializer()
    item = {k: wire.serialize(_to_dynamo(v)) for k, v in new.to_item().items()}
    if old is None:
        condition, values = "attribute_not_exists(#route)", {}
    else:
        condition, values = "#revision = :expected", {":expected": {"N": str(old.revision)}}
    names = {"#route": "route"} if old is None else {"#revision": "revision"}
    client = _client("dynamodb")
    try:
        client.put_item(TableName=table, Item=item, ConditionExpression=condition,
                        ExpressionAttributeNames=names, **({"ExpressionAttributeValues": values} if values else {}))
    except client.exceptions.ConditionalCheckFailedException:
        raise RoutingConflict(f"route {new.route!r} changed since revision "
                              f"{None if old is None else old.revision} was read") from None


def canary_step(table: str, stats: CanaryStats, config: CanaryConfig, now: float, route: str = "chat"
                ) -> CanaryVerdict:
    """One pass of the canary controller: decide from the stored record and store what changed."""
    record = read_route(table, route)
    if record is None:
        raise RoutingConflict(f"route {route!r} has no routing record")
    verdict = evaluate_canary(record, stats, config, now)
    if verdict.action != "wait":
        write_transition(table, record, verdict.record)
    print("\n".join(canary_metric_lines(record, verdict)), flush=True)
    return verdict


def _sum_metric(cw, namespace: str, name: str, dimensions: dict[str, str], since: float, until: float) -> float:
    """Sum of one metric series over [since, until], asked as one period covering the whole window."""
    from datetime import UTC, datetime

    start = math.floor(since / 60) * 60  # whole minutes: CloudWatch aligns periods to them
    end = math.ceil(max(until, since + 1) / 60) * 60 + 60
    answer = cw.get_metric_data(
        MetricDataQueries=[{"Id": "m", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]},
            "Period": int(end - start), "Stat": "Sum"}}],
        StartTime=datetime.fromtimestamp(start, tz=UTC), EndTime=datetime.fromtimestamp(end, tz=UTC))
    return float(sum(sum(r.get("Values", [])) for r in answer["MetricDataResults"]))


def canary_stats(version: str, since: float, until: float, *, route: str = "chat", client=None) -> CanaryStats:
    """The canary's requests, errors and thumbs between `since` and `until` (epoch seconds), from CloudWatch.

    Each count is the catalogue's detailed dimension set with ModelVersion = the canary: what the chat
    and feedback Lambdas publish through EMF. Errors count only where a series names the version (found
    with ListMetrics); the requests that failed are added to the answered ones, so the error rate is
    failures over attempts."""
    from flywheel.observability.catalogue import emf_dimension_sets, metric

    cw = client or _client("cloudwatch")
    namespace = metric("Requests").namespace
    answered = _sum_metric(cw, namespace, "Requests", emf_dimension_sets(
        "Requests", {"Route": route, "ModelVersion": version})[0], since, until)
    thumbs = {rating: _sum_metric(cw, namespace, "Feedback", emf_dimension_sets(
        "Feedback", {"Kind": "thumbs", "Rating": rating, "ModelVersion": version})[0], since, until)
        for rating in ("up", "down")}
    errors = 0.0
    for page in cw.get_paginator("list_metrics").paginate(
            Namespace=namespace, MetricName="Errors", Dimensions=[{"Name": "ModelVersion", "Value": version}]):
        for series in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in series.get("Dimensions", [])}
            if dims.get("Route", route) == route:
                errors += _sum_metric(cw, namespace, "Errors", dims, since, until)
    return CanaryStats(requests=int(answered + errors), errors=int(errors), thumbs_up=int(thumbs["up"]),
                       thumbs_down=int(thumbs["down"]))


def run_controller(table: str, config: CanaryConfig, now: float, *, route: str = "chat",
                   stats_reader=canary_stats) -> dict:
    """One tick of the canary controller; returns what it saw and did (for logs and the turn's report)."""
    record = read_route(table, route)
    if record is None:
        return {"action": "idle", "route": route, "reason": "no routing record: nothing is deployed"}
    if record.state != "canary" or record.canary is None:
        return {"action": "idle", "route": route, "state": record.state, "champion": record.champion,
                "reason": f"no canary running (state {record.state})"}
    # The counts are the API's chat route's (Route="chat" in its metrics), whichever routing record this is.
    stats = stats_reader(record.canary, record.canary_since or now, now)
    seen = {"requests": stats.requests, "errors": stats.errors, "thumbs_up": stats.thumbs_up,
            "thumbs_down": stats.thumbs_down, "error_rate": round(stats.error_rate, 4),
            "thumbs_down_rate": round(stats.thumbs_down_rate, 4)}
    try:
        verdict = canary_step(table, stats, config, now, route)
    except RoutingConflict as exc:
        return {"action": "conflict", "route": route, "canary": record.canary, "reason": str(exc), "stats": seen}
    after = verdict.record
    return {"action": verdict.action, "route": route, "reason": verdict.reason, "canary": record.canary,
            "champion": after.champion, "state": after.state, "canary_share": after.canary_share,
            "revision": after.revision, "baked_s": round(now - (record.canary_since or now), 1), "stats": seen}


def canary_metric_lines(before: RoutingRecord, verdict: CanaryVerdict) -> list[str]:
    """CanaryShare after the step, and Rollbacks when it rolled back, under the canary's version."""
    from flywheel.observability.catalogue import emf_line

    dims = {"ModelVersion": str(before.canary or before.champion)}
    lines = [emf_line("CanaryShare", 100.0 * float(verdict.record.canary_share), dims)]
    if verdict.action == "rollback":
        lines.append(emf_line("Rollbacks", 1.0, dims))
    return lines


def register_candidate(group: str, model_url: str, image_uri: str, evaluation: dict, version: str) -> dict:
    """A model package for the candidate: approved when the gate passed, rejected when it failed."""
    passed = evaluation.get("gate") == "pass"
    challenger = (evaluation.get("models") or {}).get("challenger") or {}
    win = evaluation.get("win_rate") or {}
    metadata = {"version": version, "gate": str(evaluation.get("gate")),
                "win_rate": str(win.get(win.get("gate_uses")) if win.get("gate_uses") else None),
                "flag_rate": str(challenger.get("flag_rate")), "heldout_loss": str(challenger.get("heldout_loss")),
                "reasons": " | ".join(evaluation.get("reasons") or [])[:256]}
    answer = _client("sagemaker").create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"candidate {version}: gate {metadata['gate']}"[:1024],
        InferenceSpecification={"Containers": [{"Image": image_uri, "ModelDataUrl": model_url}],
                                "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json", "text/event-stream"]},
        ModelApprovalStatus="Approved" if passed else "Rejected",
        CustomerMetadataProperties=metadata,
    )
    return {"arn": answer["ModelPackageArn"], "approval": "Approved" if passed else "Rejected", **metadata}
