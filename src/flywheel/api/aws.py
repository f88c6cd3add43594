"""boto3 clients for the API, built lazily: once per process, on first use, never at import.

Building a client at import would fix its endpoint and region before moto server or a test has set
`AWS_ENDPOINT_URL`, and would charge the import to every cold start, even of routes that never call
AWS. `client("dynamodb")` builds on first call and caches; `reset()` forgets them (tests that move the
endpoint). The standard endpoint variables apply (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, ...), which is how the local stack points them at moto server and
at the local SageMaker endpoint.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Adaptive retries ride out DynamoDB throttling; short connect timeouts keep a dead dependency
    # from eating the function's whole timeout.
    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3,
                    read_timeout=60, max_pool_connections=32)
    return boto3.session.Session().client(service, config=config)


def reset() -> None:
    client.cache_clear()
