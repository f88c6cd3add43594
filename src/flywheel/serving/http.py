"""The inference server's HTTP layer: SageMaker's container contracts over the model registry.

Multi-model (`SAGEMAKER_MULTI_MODEL=true`):
    GET    /ping                       200 while the server runs
    POST   /models                     {"model_name", "url"} -> load (409 loaded, 507 no memory)
    GET    /models?max_results=&next_page_token=   {"models": [...], "nextPageToken": ...}
    GET    /models/<name>              the model's description (404 if not loaded)
    DELETE /models/<name>              unload (404 if not loaded)
    POST   /models/<name>/invoke       an invocation (below)
Single-model: GET /ping and POST /invocations. Both: GET /metrics (Prometheus text).

An invocation body is parsed by `flywheel.serving.params`; the answer is
`{"model", "model_version", "choices": [{"index", "text", "finish_reason"}], "usage"}`. With
`"stream": true` the answer is newline-delimited JSON (chunked): one `{"index", "text",
"finish_reason"}` per chunk, then one line with `model`, `model_version` and `usage`.

Correlation: an invocation's `X-Amzn-SageMaker-Custom-Attributes` header (SageMaker forwards the
caller's CustomAttributes verbatim) is read for `request_id=<id>`; the id goes into the invocation's
structured log line (`ServingMetrics.log_invocation`, on stdout beside the EMF lines) and the header
is echoed on a successful answer, which SageMaker returns to the caller as the response's CustomAttributes.

Errors are typed (`flywheel.serving.errors`) and mapped to status codes once, in `STATUS`; the body
is `{"error": <type>, "message": <reason>}`, with `Retry-After` where the error carries one.
This module imports no torch: the registry loads it with the first model.

    SAGEMAKER_MULTI_MODEL=true python containers/inference/serve
"""

from __future__ import annotations

import json
import logging
import math
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from flywheel.observability.correlation import CUSTOM_ATTRIBUTES_HEADER, request_id_from_attributes
from flywheel.serving.errors import (
    BadRequest,
    EngineFailure,
    InsufficientMemory,
    ModelAlreadyLoaded,
    ModelNotFound,
    Overloaded,
    RequestTimeout,
    ServingError,
)
from flywheel.serving.params import parse_request
from flywheel.serving.registry import ModelRegistry
from flywheel.serving.settings import ServerSettings

log = logging.getLogger(__name__)

# The one place contract errors become status codes (subclasses inherit: ModelRejected is a BadRequest).
STATUS: dict[type, int] = {
    BadRequest: 400,
    ModelNotFound: 404,
    ModelAlreadyLoaded: 409,
    InsufficientMemory: 507,
    Overloaded: 429,
    RequestTimeout: 503,
    EngineFailure: 500,
}
MAX_BODY_BYTES = 1 << 20
SINGLE_MODEL = "model"  # the registry name of the one model in single-model mode


def status_of(exc: ServingError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SageMaker and boto3 reuse connections
    server: InferenceServer

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # --- routing ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")] if url.path.strip("/") else []
        multi = self.server.settings.multi_model
        try:
            body = self._body() if method == "POST" else b""
            if parts == ["ping"] and method == "GET":
                return self._json(200, {"status": "healthy"})
            if parts == ["metrics"] and method == "GET":
                return self._send(200, self.server.registry.metrics.render().encode(),
                                  "text/plain; version=0.0.4; charset=utf-8")
            if not multi and parts == ["invocations"] and method == "POST":
                return self._invoke(SINGLE_MODEL, body)
            if multi and parts and parts[0] == "models":
                return self._models(method, parts[1:], url.query, body)
            raise _NoRoute(f"no route for {method} {url.path}")
        except _NoRoute as exc:
            self._json(404, {"error": "NotFound", "message": str(exc)})
        except ServingError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # a bug: answer 500 and keep serving
            log.exception("unhandled error on %s %s", method, self.path)
            self._json(500, {"error": "InternalError", "message": "internal error"})

    def _models(self, method: str, rest: list[str], query: str, body: bytes) -> None:
        registry = self.server.registry
        if not rest and method == "POST":
            request = _json_object(body)
            name, url = request.get("model_name"), request.get("url")
            if not isinstance(name, str) or not isinstance(url, str):
                raise BadRequest("body must carry string fields model_name and url")
            return self._json(200, {"status": "loaded", **registry.load(name, url)})
        if not rest and method == "GET":
            q = parse_qs(query)
            max_results = _query_int(q, "max_results")
            token = q.get("next_page_token", [None])[0]
            models, next_token = registry.page(max_results, token)
            answer = {"models": models}
            if next_token:
                answer["nextPageToken"] = next_token
            return self._json(200, answer)
        if len(rest) == 1 and method == "GET":
            return self._json(200, registry.describe(rest[0]))
        if len(rest) == 1 and method == "DELETE":
            registry.unload(rest[0])
            return self._json(200, {"status": "unloaded", "modelName": rest[0]})
        if len(rest) == 2 and rest[1] == "invoke" and method == "POST":
            return self._invoke(rest[0], body)
        raise _NoRoute(f"no route for {method} /models/{'/'.join(rest)}")

    # --- invocations -----------------------------------------------------------------------------
    def _invoke(self, name: str, body: bytes) -> None:
        """One invocation, logged once with the caller's request id whatever its outcome."""
        registry = self.server.registry
        attributes = self.headers.get(CUSTOM_ATTRIBUTES_HEADER)
        echo = {CUSTOM_ATTRIBUTES_HEADER: attributes} if attributes else {}
        started = time.monotonic()
        outcome: dict = {"status": 500, "model_version": None, "usage": None, "error": None, "stream": False}
        try:
            params = parse_request(body, max_n=self.server.settings.engine.max_n)
            outcome["stream"] = params.stream
            with registry.use(name) as engine:
                outcome["model_version"] = getattr(engine, "version", None)
                completion = engine.submit(params)
                if not params.stream:
                    result = completion.result()
                    outcome.update(status=200, usage=result.get("usage"))
                    return self._json(200, result, echo)
                outcome["status"] = 200  # the status line goes out first; errors after it are in-band
                outcome["usage"], outcome["error"] = self._stream(completion, echo)
        except ServingError as exc:
            outcome.update(status=status_of(exc), error=type(exc).__name__)
            raise
        finally:
            registry.metrics.log_invocation(
                request_id=request_id_from_attributes(attributes), model=name, status=outcome["status"],
                latency_ms=(time.monotonic() - started) * 1e3, model_version=outcome["model_version"],
                usage=outcome["usage"], stream=outcome["stream"], error=outcome["error"])

    def _stream(self, completion, headers: dict[str, str]) -> tuple[dict | None, str | None]:
        """Relay a completion chunk by chunk; returns (usage, error type) for the request's log line."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        usage = error = None
        try:
            try:
                for chunk in completion:
                    self._chunk(chunk)
                result = completion.result()
                usage = result.get("usage")
                self._chunk({k: result[k] for k in ("model", "model_version", "usage")})
            except ServingError as exc:  # the status line is gone: report in-band
                error = type(exc).__name__
                self._chunk({"error": error, "message": str(exc), "status": status_of(exc)})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            completion.cancel()  # the client left: free its slots
            self.close_connection = True
            error = error or "ClientDisconnected"
        return usage, error

    def _chunk(self, obj: dict) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # --- plumbing --------------------------------------------------------------------------------
    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would poison the connection
            raise BadRequest(f"body must be at most {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    def _error(self, exc: ServingError) -> None:
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        self._json(status_of(exc), {"error": type(exc).__name__, "message": str(exc)}, headers)

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        try:
            self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_
                               else None)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _NoRoute(Exception):
    pass


def _json_object(body: bytes) -> dict:
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadRequest("body must be a JSON object")
    return obj


def _query_int(q: dict, name: str) -> int | None:
    if name not in q:
        return None
    try:
        value = int(q[name][0])
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if value < 1:
        raise BadRequest(f"{name} must be at least 1")
    return value


class InferenceServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of connections waits in the backlog instead of being refused

    def __init__(self, settings: ServerSettings, registry: ModelRegistry | None = None):
        self.settings = settings
        self.registry = registry or ModelRegistry(settings)
        super().__init__((settings.host, settings.port), Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def server_close(self) -> None:
        super().server_close()
        self.registry.close()
