"""`POST /v1/feedback`: a user's verdict on a completion, stored exactly once.

A body names a `completion_id` and exactly one of `thumbs`, `rating`, `preferred_choice` or
`correction` (see `flywheel.api.schemas.FeedbackRequest`). The completion must exist (404 otherwise,
checked against the interactions the chat function remembered) and a `preferred_choice` or
`choice_index` must name one of its choices.

Exactly-once has two layers. Powertools Idempotency on DynamoDB makes a repeated post (a client
retry, a double click) answer with the first post's stored result without doing the work again; a
concurrent duplicate gets 409 until the first finishes. Under it, the feedback id is a hash of the
feedback itself and the DynamoDB write is conditional, so even after the idempotency record expires
the table holds each feedback once. The lake copy goes through Firehose after the write and the item
is then marked delivered; a retry of a write whose delivery failed delivers it then.

The persistence layer builds a boto3 client when constructed, so it is built lazily, on the first
request, after the endpoint and region are known.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from typing import Any

from flywheel.api import aws, lake
from flywheel.api.errors import BadRequest, NotFound
from flywheel.api.schemas import FeedbackRequest
from flywheel.api.settings import FeedbackSettings
from flywheel.api.telemetry import emit, traced

ROUTE = "feedback"
KEY_PREFIX = "flywheel-feedback"
# The fields that make two posts "the same feedback"; the rest of the payload follows from them.
IDEMPOTENCY_KEY = "[completion_id, kind, value, choice_index]"


@functools.cache
def idempotency_config(settings: FeedbackSettings) -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath=IDEMPOTENCY_KEY, raise_on_no_idempotency_key=True,
                             expires_after_seconds=settings.idempotency_ttl_seconds)


def register_lambda_context(settings: FeedbackSettings, context: Any) -> None:
    """Lets Idempotency expire an in-progress record when the function times out mid-request."""
    idempotency_config(settings).register_lambda_context(context)


def feedback_id(feedback: dict[str, Any]) -> str:
    canon = json.dumps({k: feedback[k] for k in ("completion_id", "kind", "value", "choice_index")},
                       sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "fb-" + hashlib.sha256(canon.encode()).hexdigest()[:32]


def _is_condition_failure(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@traced
def store_feedback(settings: FeedbackSettings, feedback: dict[str, Any]) -> dict[str, Any]:
    """Write one feedback to DynamoDB and the lake; safe to repeat (the write is conditional)."""
    dynamodb = aws.client("dynamodb")
    fid = feedback_id(feedback)
    key = {"completion_id": {"S": feedback["completion_id"]}, "feedback_id": {"S": fid}}
    created = int(time.time())
    try:
        dynamodb.put_item(TableName=settings.feedback_table, Item={
            **key, "kind": {"S": feedback["kind"]}, "value": {"S": json.dumps(feedback["value"])},
            "choice_index": {"N": str(feedback["choice_index"] if feedback["choice_index"] is not None else -1)},
            "model_version": {"S": feedback["model_version"]}, "created": {"N": str(created)},
            "delivered": {"BOOL": False},
        }, ConditionExpression="attribute_not_exists(feedback_id)")
        delivered = False
    except Exception as exc:
        if not _is_condition_failure(exc):
            raise
        stored = dynamodb.get_item(TableName=settings.feedback_table, Key=key, ConsistentRead=True)["Item"]
        created = int(stored["created"]["N"])
        delivered = stored.get("delivered", {}).get("BOOL", True)
    if not delivered:
        record = {"feedback_id": fid, "completion_id": feedback["completion_id"],
                  "request_id": feedback["request_id"], "model_version": feedback["model_version"],
                  "created": created, "thumbs": None, "rating": None, "preferred_choice": None,
                  "correction": None, "choice_index": feedback["choice_index"]}
        record[feedback["kind"]] = feedback["value"]
        lake.to_firehose(settings.feedback_stream, record)
        dynamodb.update_item(TableName=settings.feedback_table, Key=key,
                             UpdateExpression="SET delivered = :yes", ExpressionAttributeValues={":yes": {"BOOL": True}})
        # The catalogue's Rating: "up"/"down" for thumbs (the canary controller reads them), "1".."5" for ratings.
        rating = str(feedback["value"]) if feedback["kind"] in ("rating", "thumbs") else "none"
        emit("Feedback", 1, {"request_id": feedback["request_id"]}, Kind=feedback["kind"], Rating=rating,
             ModelVersion=feedback["model_version"])
    emit("Requests", 1, Route=ROUTE, ModelVersion=feedback["model_version"])
    return {"id": fid, "object": "feedback", "completion_id": feedback["completion_id"],
            "kind": feedback["kind"], "created": created}


@functools.cache
def _recorder(settings: FeedbackSettings):
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=aws.client("dynamodb"))

    @idempotent_function(data_keyword_argument="feedback", persistence_store=persistence,
                         config=idempotency_config(settings), key_prefix=KEY_PREFIX)
    def record(feedback: dict[str, Any]) -> dict[str, Any]:
        return store_feedback(settings, feedback)

    return record


def record_feedback(request: FeedbackRequest, settings: FeedbackSettings) -> dict[str, Any]:
    interaction = lake.find_interaction(settings.interactions_table, request.completion_id)
    if interaction is None:
        raise NotFound(f"no completion {request.completion_id!r} (unknown, or too old for feedback)",
                       param="completion_id", code="completion_not_found")
    n = interaction["n"]
    if request.preferred_choice is not None and (n < 2 or request.preferred_choice >= n):
        raise BadRequest(f"preferred_choice {request.preferred_choice} does not name a choice of this "
                         f"completion, which has {n} choice(s); comparing needs n >= 2", param="preferred_choice")
    if request.choice_index is not None and request.choice_index >= n:
        raise BadRequest(f"choice_index {request.choice_index} is out of range: the completion has {n} choice(s)",
                         param="choice_index")
    # The choice a verdict is about: 0 when absent (the lake's convention), none for a comparison.
    choice = None if request.kind == "preferred_choice" else (request.choice_index or 0)
    feedback = {"completion_id": request.completion_id, "kind": request.kind, "value": request.value,
                "choice_index": choice, "model_version": interaction["model_version"],
                "request_id": interaction["request_id"]}
    return _recorder(settings)(feedback=feedback)
