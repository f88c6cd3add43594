"""Which model answers: the routing configuration in DynamoDB, read by the API.

The item is `flywheel.feedback.gate.RoutingRecord` (route, champion, canary, canary_share, state,
revision, ...), written by the canary state machine and the deploy step; this module only reads it,
through a short in-process cache so a warm function does not read DynamoDB on every request, and picks
with the gate's own `route` (sticky per `user` when one is given). Callers name either the alias
`flywheel` (routed between champion and canary) or a deployed version explicitly (pinned).

A version's TargetModel on the multi-model endpoint is `target_model(version)`: its archive's key
under the lake's `models/` prefix, `<version>.tar.gz` (`publish_model` in `flywheel.local.api` and the
deploy step upload it there).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flywheel.api import aws
from flywheel.api.errors import NotFound, ServiceUnavailable
from flywheel.feedback.gate import RoutingError, RoutingRecord, route

ROUTE = "chat"
ALIAS = "flywheel"
CACHE_SECONDS = 10.0


def target_model(version: str) -> str:
    return f"{version}.tar.gz"


@dataclass(frozen=True)
class Pick:
    version: str
    target: str
    arm: str  # "champion", "canary" or "pinned"


def pick(record: RoutingRecord, model: str, user: str | None = None) -> Pick:
    """The version a request naming `model` goes to."""
    if model == ALIAS:
        # Without a user, each request is its own key: canary_share of requests, not of users.
        version = route(record, user or uuid.uuid4().hex)
        arm = "canary" if version == record.canary and version != record.champion else "champion"
        return Pick(version, target_model(version), arm)
    if model in (record.champion, record.canary):
        return Pick(model, target_model(model), "pinned")
    known = ", ".join([ALIAS, record.champion] + ([record.canary] if record.canary else []))
    raise NotFound(f"the model {model!r} does not exist; known: {known}", param="model", code="model_not_found")


_cache: dict[str, tuple[float, RoutingRecord]] = {}
_lock = threading.Lock()


def read_routing(table: str, route_name: str = ROUTE, *, max_age: float = CACHE_SECONDS) -> RoutingRecord:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(f"{table}/{route_name}")
    if hit and now - hit[0] < max_age:
        return hit[1]
    from boto3.dynamodb.types import TypeDeserializer

    answer = aws.client("dynamodb").get_item(TableName=table, Key={"route": {"S": route_name}},
                                             ConsistentRead=True)
    if "Item" not in answer:
        raise ServiceUnavailable(f"no model is deployed: route {route_name!r} is not in the routing table")
    plain = TypeDeserializer()
    try:
        record = RoutingRecord.from_item({k: plain.deserialize(v) for k, v in answer["Item"].items()})
    except (RoutingError, TypeError, ValueError) as exc:
        raise ServiceUnavailable(f"the routing configuration is unreadable: {exc}") from exc
    if not record.champion:
        raise ServiceUnavailable("no model is deployed: the routing configuration has no champion")
    with _lock:
        _cache[f"{table}/{route_name}"] = (now, record)
    return record


def _dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dynamo(v) for v in value]
    return value


def write_routing(table: str, record: RoutingRecord) -> None:
    """Store a routing record as is (what `flywheel up` and tests call to deploy a first champion)."""
    from boto3.dynamodb.types import TypeSerializer

    wire = TypeSerializer()
    item = {k: wire.serialize(_dynamo(v)) for k, v in record.to_item().items()}
    aws.client("dynamodb").put_item(TableName=table, Item=item)
    with _lock:
        _cache.pop(f"{table}/{record.route}", None)
