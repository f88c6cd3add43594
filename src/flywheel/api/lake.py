"""Records the API writes to the lake and to DynamoDB: interactions and feedback.

Interactions and feedback go two ways. DynamoDB holds what the API itself must read back soon (a
completion's existence, model version and number of choices, so feedback can be checked; each stored
feedback, keyed for exactly-once), with a TTL. Firehose carries the full record, one JSON object per
line, into the lake's `interactions/` and `feedback/` zones, where `flywheel.feedback` joins them by
`completion_id` into preference data (the column names are that module's).

Knows boto3's wire shapes; nothing of HTTP.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flywheel.api import aws


def to_firehose(stream: str, record: dict[str, Any]) -> None:
    # One JSON object per line: Firehose concatenates records into one S3 object.
    data = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
    aws.client("firehose").put_record(DeliveryStreamName=stream, Record={"Data": data.encode()})


def remember_interaction(table: str, *, completion_id: str, request_id: str, model_version: str, n: int,
                         created: int, ttl_days: int) -> None:
    """The DynamoDB side of an interaction: what feedback needs to check a completion id."""
    aws.client("dynamodb").put_item(TableName=table, Item={
        "completion_id": {"S": completion_id}, "request_id": {"S": request_id},
        "model_version": {"S": model_version}, "n": {"N": str(n)}, "created": {"N": str(created)},
        "expires_at": {"N": str(created + ttl_days * 86400)},
    }, ConditionExpression="attribute_not_exists(completion_id)")


def find_interaction(table: str, completion_id: str) -> dict[str, Any] | None:
    answer = aws.client("dynamodb").get_item(TableName=table, Key={"completion_id": {"S": completion_id}},
                                             ConsistentRead=True)
    item = answer.get("Item")
    if item is None or int(item.get("expires_at", {}).get("N", "0")) < time.time():
        # DynamoDB's TTL deletes lazily: an expired item may still be there for a while.
        return None
    return {"completion_id": item["completion_id"]["S"], "model_version": item["model_version"]["S"],
            "request_id": item.get("request_id", {}).get("S"), "n": int(item["n"]["N"])}
