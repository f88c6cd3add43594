"""Each function's environment as one validated model, read once at cold start.

The Pulumi program sets `FLYWHEEL_STACK` (and `FLYWHEEL_PROJECT`) on every function; every physical
name then comes from `flywheel.names.StackNames`, the same source the Pulumi program and the local
stack use, and each can still be overridden by its own variable (`FLYWHEEL_ROUTING_TABLE`, ...).
A missing or malformed variable raises `SettingsError` naming it, at import of the handler.

This module knows no boto3 and no Powertools.

    FLYWHEEL_STACK=dev POWERTOOLS_METRICS_NAMESPACE=Flywheel python -c \
        "from flywheel.api.settings import ChatSettings; print(ChatSettings.from_env())"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flywheel.names import StackNames


class SettingsError(RuntimeError):
    """The function's environment is incomplete or malformed; the message names the variable."""


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    # field → (environment variable, default from the stack's names or None)
    ENV: ClassVar[dict[str, str]] = {}

    project: str = "flywheel"
    stack: str
    metrics_namespace: str

    @classmethod
    def _names(cls, names: StackNames) -> dict[str, Any]:
        return {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        if not env.get("FLYWHEEL_STACK"):
            raise SettingsError("FLYWHEEL_STACK is not set: the function cannot tell which stack it serves")
        if not env.get("POWERTOOLS_METRICS_NAMESPACE"):
            raise SettingsError("POWERTOOLS_METRICS_NAMESPACE is not set (Powertools Metrics requires it)")
        values: dict[str, Any] = {
            "project": env.get("FLYWHEEL_PROJECT") or "flywheel",
            "stack": env["FLYWHEEL_STACK"],
            "metrics_namespace": env["POWERTOOLS_METRICS_NAMESPACE"],
        }
        values.update(cls._names(StackNames(project=values["project"], stack=values["stack"])))
        for field, variable in cls.ENV.items():
            if env.get(variable):
                values[field] = env[variable]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first.get("loc") else "?"
            raise SettingsError(f"{cls.ENV.get(field, field)}: {first['msg']}") from exc


class ModerationSettings(_Settings):
    """The moderation function calls no AWS service: only the stack it belongs to."""


class ModelsSettings(_Settings):
    routing_table: str
    ENV: ClassVar[dict[str, str]] = {"routing_table": "FLYWHEEL_ROUTING_TABLE"}

    @classmethod
    def _names(cls, names: StackNames) -> dict[str, Any]:
        return {"routing_table": names.dynamo_table("routing")}


class ChatSettings(_Settings):
    routing_table: str
    cache_table: str
    interactions_table: str
    interactions_stream: str
    endpoint_name: str
    # Seconds a temperature-0 answer stays in the response cache (DynamoDB TTL).
    cache_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # Days an interaction stays answerable by feedback (DynamoDB TTL); the lake keeps it for good.
    interaction_ttl_days: int = Field(default=30, ge=1)
    # Tokens generated when a request gives no max_tokens.
    default_max_tokens: int = Field(default=128, ge=1, le=4096)
    ENV: ClassVar[dict[str, str]] = {
        "routing_table": "FLYWHEEL_ROUTING_TABLE", "cache_table": "FLYWHEEL_CACHE_TABLE",
        "interactions_table": "FLYWHEEL_INTERACTIONS_TABLE",
        "interactions_stream": "FLYWHEEL_INTERACTIONS_STREAM", "endpoint_name": "FLYWHEEL_ENDPOINT_NAME",
        "cache_ttl_seconds": "FLYWHEEL_CACHE_TTL_SECONDS",
        "interaction_ttl_days": "FLYWHEEL_INTERACTION_TTL_DAYS",
        "default_max_tokens": "FLYWHEEL_DEFAULT_MAX_TOKENS",
    }

    @classmethod
    def _names(cls, names: StackNames) -> dict[str, Any]:
        return {"routing_table": names.dynamo_table("routing"),
                "cache_table": names.dynamo_table("response_cache"),
                "interactions_table": names.dynamo_table("interactions"),
                "interactions_stream": names.firehose_interactions, "endpoint_name": names.endpoint}


class FeedbackSettings(_Settings):
    interactions_table: str
    feedback_table: str
    idempotency_table: str
    feedback_stream: str
    # How long a duplicate post is answered from the idempotency record (seconds).
    idempotency_ttl_seconds: int = Field(default=3600, ge=60)
    ENV: ClassVar[dict[str, str]] = {
        "interactions_table": "FLYWHEEL_INTERACTIONS_TABLE", "feedback_table": "FLYWHEEL_FEEDBACK_TABLE",
        "idempotency_table": "FLYWHEEL_IDEMPOTENCY_TABLE", "feedback_stream": "FLYWHEEL_FEEDBACK_STREAM",
        "idempotency_ttl_seconds": "FLYWHEEL_IDEMPOTENCY_TTL_SECONDS",
    }

    @classmethod
    def _names(cls, names: StackNames) -> dict[str, Any]:
        return {"interactions_table": names.dynamo_table("interactions"),
                "feedback_table": names.dynamo_table("feedback"),
                "idempotency_table": names.dynamo_table("idempotency"),
                "feedback_stream": names.firehose_feedback}
