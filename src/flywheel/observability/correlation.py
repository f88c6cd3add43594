"""The correlation id on the SageMaker hop: how a request id rides in InvokeEndpoint's CustomAttributes.

SageMaker forwards the caller's `CustomAttributes` to the container verbatim in the header
`X-Amzn-SageMaker-Custom-Attributes` (an opaque, visible-ASCII string of at most 1024 characters),
and returns whatever the container puts in the same response header as the response's
`CustomAttributes`. The chat API sends `request_id=<API Gateway's request id>`; this module reads
that back out on the container's side. Other `key=value` pairs, separated by `;` or `,`, are allowed
and ignored, as is anything that is not a pair.

Knows no HTTP server, boto3 or torch: strings in, strings out.

    request_id_from_attributes("request_id=0f3c...; trace=abc")   # '0f3c...'
"""

from __future__ import annotations

import re

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
REQUEST_ID_KEY = "request_id"
MAX_CUSTOM_ATTRIBUTES = 1024  # SageMaker's limit on the header's length
_SEPARATORS = re.compile(r"[;,]")


def parse_custom_attributes(value: str | None) -> dict[str, str]:
    """The `key=value` pairs of a CustomAttributes string (first one wins; blanks and non-pairs skipped)."""
    pairs: dict[str, str] = {}
    if not value:
        return pairs
    for part in _SEPARATORS.split(value[:MAX_CUSTOM_ATTRIBUTES]):
        key, sep, val = part.partition("=")
        key, val = key.strip(), val.strip()
        if sep and key and val and key not in pairs:
            pairs[key] = val
    return pairs


def request_id_from_attributes(value: str | None) -> str | None:
    """The request id a caller put in CustomAttributes, or None when there is none."""
    return parse_custom_attributes(value).get(REQUEST_ID_KEY)


def custom_attributes(request_id: str) -> str:
    """The CustomAttributes string that carries `request_id` (what the chat API sends)."""
    return f"{REQUEST_ID_KEY}={request_id}"
