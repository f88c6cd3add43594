"""Resource names shared by the Pulumi program and the local stack.

One place decides what the lake bucket, the Glue database and tables, the DynamoDB tables, the model
package group and the endpoint are called, so `pulumi up` in AWS and `flywheel up` on a laptop create
the same things. This module knows nothing of Pulumi or boto3: it only builds strings.

    >>> names = StackNames(project="flywheel", stack="dev")
    >>> names.bucket
    'flywheel-dev-lake'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Zones of the lake: one bucket, one prefix each (ARCHITECTURE.md, "Lake").
ZONES = ("raw", "curated", "interactions", "feedback", "preferences", "shards", "models")

# Glue tables of the lake, by zone. Each is a Parquet dataset written with awswrangler.
TABLES = {
    "curated": "curated_documents",
    "interactions": "interactions",
    "feedback": "feedback",
    "preferences": "preferences",
}

# DynamoDB tables and their key schemas (hash key, range key or None).
DYNAMO_TABLES = {
    "feedback": ("completion_id", "feedback_id"),
    "idempotency": ("id", None),
    "response_cache": ("cache_key", None),
    "routing": ("route", None),
    "interactions": ("completion_id", None),
}

_SAFE = re.compile(r"[^a-z0-9-]+")


def _slug(text: str) -> str:
    slug = _SAFE.sub("-", text.lower()).strip("-")
    if not slug:
        raise ValueError(f"name {text!r} has no usable characters")
    return slug


@dataclass(frozen=True)
class StackNames:
    """Every physical name of one stack (a Pulumi stack, or one local run)."""

    project: str = "flywheel"
    stack: str = "local"

    @property
    def prefix(self) -> str:
        return f"{_slug(self.project)}-{_slug(self.stack)}"

    @property
    def bucket(self) -> str:
        # S3 bucket names: 3-63 characters, lowercase, digits, hyphens.
        return f"{self.prefix}-lake"[:63]

    @property
    def glue_database(self) -> str:
        # Glue and Athena prefer underscores: hyphens need quoting in SQL.
        return self.prefix.replace("-", "_")

    def table(self, zone: str) -> str:
        return TABLES[zone]

    def dynamo_table(self, role: str) -> str:
        if role not in DYNAMO_TABLES:
            raise KeyError(f"unknown DynamoDB table role {role!r}; known: {sorted(DYNAMO_TABLES)}")
        return f"{self.prefix}-{role.replace('_', '-')}"

    @property
    def model_package_group(self) -> str:
        return f"{self.prefix}-models"

    @property
    def endpoint(self) -> str:
        return f"{self.prefix}-endpoint"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-continuous-training"

    @property
    def metrics_namespace(self) -> str:
        return "Flywheel"

    def zone_prefix(self, zone: str) -> str:
        if zone not in ZONES:
            raise KeyError(f"unknown lake zone {zone!r}; known: {ZONES}")
        return f"{zone}/"

    def zone_uri(self, zone: str) -> str:
        return f"s3://{self.bucket}/{self.zone_prefix(zone)}"

    @property
    def firehose_interactions(self) -> str:
        return f"{self.prefix}-interactions"

    @property
    def firehose_feedback(self) -> str:
        return f"{self.prefix}-feedback"
