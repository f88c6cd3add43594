"""Typed API errors and the one table that maps every error to an HTTP status and an OpenAI error body.

Every route raises one of the `ApiError` subclasses below (or lets a library exception through that
`as_api_error` knows); `flywheel.api.http` turns them into responses in one place. Bodies follow
OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so the `openai` client raises the
matching exception class; a content-filter refusal adds Azure OpenAI's `innererror` with the
categories or the attack that triggered it.

This module knows no Powertools and no boto3; it recognises foreign exceptions by class name and
module so importing it stays cheap (the Lambda cold start counts).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API answers with a status and a reason; subclasses fix the status and type."""

    status = 500
    type = "server_error"
    code: str | None = None
    # The model version whose call failed (a 5xx from the endpoint) (the Errors metric's dimension).
    model_version: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        error.update(self.extra)
        return {"error": error}


class BadRequest(ApiError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


class ContentFiltered(BadRequest):
    """The input checks blocked the request (Azure OpenAI answers these as 400 `content_filter`)."""

    code = "content_filter"


class Unauthorized(ApiError):
    status, type, code = 401, "invalid_request_error", "invalid_api_key"


class NotFound(ApiError):
    status, type, code = 404, "invalid_request_error", "not_found"


class Conflict(ApiError):
    """The same request is being processed right now (a concurrent duplicate); retry shortly."""

    status, type, code = 409, "invalid_request_error", "request_in_progress"


class PayloadTooLarge(ApiError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class UpstreamError(ApiError):
    """The model endpoint failed or answered something unreadable."""

    status, type, code = 502, "server_error", "upstream_error"


class ServiceUnavailable(ApiError):
    """Nothing to serve with (no model routed) or a dependency is unreachable; retry later."""

    status, type, code = 503, "server_error", "service_unavailable"


def validation_message(errors: list[dict[str, Any]], root: str = "body") -> tuple[str, str | None]:
    """pydantic's error list → one readable reason and the first offending parameter."""
    parts, param = [], None
    for err in errors[:8]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or root
        param = param or loc
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(errors) - 8
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else ""), param


def _named(exc: BaseException, *names: str) -> bool:
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def as_api_error(exc: BaseException) -> ApiError:
    """The mapping table: any exception → the ApiError the client sees.

    Client faults (malformed JSON, validation, a concurrent duplicate) become 4xx with the reason;
    dependency faults become 502/503; anything unknown is a 500 that says only that it is ours.
    """
    if isinstance(exc, ApiError):
        return exc
    if _named(exc, "ValidationError", "RequestValidationError"):
        errors = exc.errors() if callable(getattr(exc, "errors", None)) else []
        message, param = validation_message(list(errors))
        return BadRequest(f"invalid request: {message}", param=param)
    if _named(exc, "JSONDecodeError", "UnicodeDecodeError"):
        return BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json")
    if _named(exc, "IdempotencyAlreadyInProgressError"):
        return Conflict("an identical request is being processed; retry in a moment",
                        headers={"Retry-After": "1"})
    if _named(exc, "IdempotencyValidationError"):
        return BadRequest("the payload differs from an earlier request with the same key",
                          code="idempotency_mismatch")
    if _named(exc, "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        return ServiceUnavailable(f"a dependency is unreachable: {type(exc).__name__}",
                                  headers={"Retry-After": "2"})
    if _named(exc, "ModelError"):
        return UpstreamError("the model endpoint failed to answer")
    if _named(exc, "ClientError"):
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "Unknown")
        if code in ("ThrottlingException", "ProvisionedThroughputExceededException",
                    "ServiceUnavailable", "RequestLimitExceeded"):
            return ServiceUnavailable(f"a dependency is throttling ({code}); retry later",
                                      headers={"Retry-After": "2"})
        return UpstreamError(f"a dependency refused the call ({code})")
    return ApiError("internal error; the request id is in the response headers")
