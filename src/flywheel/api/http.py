"""The HTTP edge every API function shares: the resolver, the error mapping, body parsing, the event guard.

`build_app()` returns a Powertools `APIGatewayRestResolver` whose exception handlers send every error
through `flywheel.api.errors.as_api_error` — the one place exceptions become statuses. `parse_body`
turns the current request's body into a pydantic model or raises `BadRequest` with the reason.
`serve(app, event, context)` is what a handler calls: it refuses an event that is not an API Gateway
REST proxy event (400 with the reason, instead of a crash that API Gateway would show as 502), then
resolves it.

This module knows nothing of chat, feedback or AWS services.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from flywheel.api.errors import ApiError, BadRequest, NotFound, as_api_error, validation_message
from flywheel.api.telemetry import emit, logger

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"


class RestProxyEvent(BaseModel):
    """The fields of an API Gateway REST proxy event (payload 1.0) the resolver relies on."""

    model_config = ConfigDict(extra="allow")

    httpMethod: StrictStr
    path: StrictStr
    resource: StrictStr | None = None
    headers: dict[StrictStr, StrictStr] | None = None
    multiValueHeaders: dict[StrictStr, list[StrictStr]] | None = None
    queryStringParameters: dict[StrictStr, StrictStr] | None = None
    multiValueQueryStringParameters: dict[StrictStr, list[StrictStr]] | None = None
    pathParameters: dict[StrictStr, StrictStr] | None = None
    stageVariables: dict[StrictStr, StrictStr] | None = None
    requestContext: dict[StrictStr, Any] | None = None
    body: StrictStr | None = None
    isBase64Encoded: StrictBool | None = False


def error_response(error: ApiError, request_id: str | None = None) -> Response:
    headers = dict(error.headers)
    if request_id:
        headers["x-request-id"] = request_id
    return Response(status_code=error.status, content_type=JSON, body=json.dumps(error.body()),
                    headers=headers)


def _request_id(app: APIGatewayRestResolver) -> str | None:
    context = app.current_event.get("requestContext")
    value = context.get("requestId") if isinstance(context, dict) else None
    return value if isinstance(value, str) and value else None


def request_id(app: APIGatewayRestResolver) -> str:
    """API Gateway's id of the current request (a fresh one for an event that lacks it)."""
    return _request_id(app) or f"local-{uuid.uuid4().hex}"


def build_app(route: str) -> APIGatewayRestResolver:
    """The function's resolver; `route` names it in the Errors metric (chat, moderation, ...)."""
    app = APIGatewayRestResolver()

    @app.not_found
    def _not_found(_: Exception) -> Response:
        event = app.current_event
        return error_response(NotFound(f"no route for {event.http_method} {event.path}"), _request_id(app))

    @app.exception_handler(Exception)
    def _any(exc: Exception) -> Response:
        error = as_api_error(exc)
        emit("Errors", 1, ErrorType=error.code or type(error).__name__, Route=route)
        if error.status >= 500:
            logger.exception("request failed", extra={"error_type": type(exc).__name__})
        else:
            logger.info("request refused", extra={"status": error.status, "reason": error.message})
        return error_response(error, _request_id(app))

    return app


def request_json(app: APIGatewayRestResolver) -> Any:
    """The current request's body as JSON; BadRequest when it is absent, undecodable or not JSON."""
    event = app.current_event
    raw = event.get("body")
    if raw is None or raw == "":
        raise BadRequest("the request has no body; send a JSON object", code="invalid_json")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not valid base64-encoded UTF-8: {exc}", code="invalid_json") from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from None


def parse_body(app: APIGatewayRestResolver, model: type[M]) -> M:
    data = request_json(app)
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(data).__name__}", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise as_api_error(exc) from None


def serve(app: APIGatewayRestResolver, event: Any, context: Any) -> dict[str, Any]:
    """Resolve one API Gateway event; a malformed event is answered 400, never raised."""
    try:
        RestProxyEvent.model_validate(event)
    except ValidationError as exc:
        reason, _ = validation_message(exc.errors(), root="event")
        error = BadRequest(f"not an API Gateway REST proxy event: {reason}", code="invalid_event")
        return {"statusCode": 400, "headers": {"Content-Type": JSON}, "multiValueHeaders": {},
                "body": json.dumps(error.body()), "isBase64Encoded": False}
    return app.resolve(event, context)
