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
from pydantic import BaseModel, ValidationError

from flywheel.api.errors import ApiError, BadRequest, NotFound, as_api_error
from flywheel.api.telemetry import emit, logger

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"


# The fields of an API Gateway REST proxy event (payload 1.0) the resolver relies on, and their shapes.
# Checked by hand, not by a pydantic model: this runs on every event and building a model at import
# costs the cold start more than these few lines cost per call.
_REQUIRED_STRINGS = ("httpMethod", "path")
_OPTIONAL = {
    "resource": "string", "body": "string", "isBase64Encoded": "bool",
    "headers": "map", "queryStringParameters": "map", "pathParameters": "map", "stageVariables": "map",
    "multiValueHeaders": "multimap", "multiValueQueryStringParameters": "multimap", "requestContext": "object",
}


def _shape_ok(value: Any, shape: str) -> bool:
    if shape == "string":
        return isinstance(value, str)
    if shape == "bool":
        return isinstance(value, bool)
    if shape == "object":
        return isinstance(value, dict)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return False
    if shape == "map":
        return all(isinstance(v, str) for v in value.values())
    return all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in value.values())


def event_problem(event: Any) -> str | None:
    """Why `event` is not an API Gateway REST proxy event, or None when it is one."""
    if not isinstance(event, dict):
        return f"the event must be a JSON object, not {type(event).__name__}"
    for key in _REQUIRED_STRINGS:
        if not isinstance(event.get(key), str):
            return f"{key}: must be a string" + ("" if key in event else " and is missing")
    for key, shape in _OPTIONAL.items():
        value = event.get(key)
        if value is not None and not _shape_ok(value, shape):
            return f"{key}: must be {'a ' if shape != 'object' else 'an '}{shape.replace('map', 'map of strings')}"
    return None


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
        emit("Errors", 1, ErrorType=error.code or type(error).__name__, Route=route,
             ModelVersion=error.model_version or "none")
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
    problem = event_problem(event)
    if problem is not None:
        error = BadRequest(f"not an API Gateway REST proxy event: {problem}", code="invalid_event")
        return {"statusCode": 400, "headers": {"Content-Type": JSON}, "multiValueHeaders": {},
                "body": json.dumps(error.body()), "isBase64Encoded": False}
    return app.resolve(event, context)
