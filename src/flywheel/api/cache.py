"""The exact-match response cache for deterministic (temperature 0) chat requests, in DynamoDB with a TTL.

The key is a sha256 of the model version, the system policy version and the normalised request (the
messages as sent to the model, every sampling parameter, canonical JSON), so a new model, a new policy
or any changed parameter misses. What is cached is the answer after the output filter, so a hit is
served exactly as the first answer was. Items carry `expires_at` (epoch seconds) for DynamoDB's TTL;
since TTL deletion is lazy, reads also check it.

Knows DynamoDB's wire shapes; nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from flywheel.api import aws


def cache_key(model_version: str, policy_version: str, messages: list[dict[str, str]],
              params: dict[str, Any]) -> str:
    canon = json.dumps({"model_version": model_version, "policy_version": policy_version,
                        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                        "params": params}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def lookup(table: str, key: str) -> dict[str, Any] | None:
    item = aws.client("dynamodb").get_item(TableName=table, Key={"cache_key": {"S": key}}).get("Item")
    if item is None or int(item["expires_at"]["N"]) <= time.time():
        return None
    return json.loads(item["answer"]["S"])


def store(table: str, key: str, answer: dict[str, Any], ttl_seconds: int) -> None:
    aws.client("dynamodb").put_item(TableName=table, Item={
        "cache_key": {"S": key}, "answer": {"S": json.dumps(answer, ensure_ascii=False)},
        "model_version": {"S": str(answer.get("model_version", ""))},
        "expires_at": {"N": str(int(time.time()) + ttl_seconds)},
    })
