"""The local SageMaker endpoint: what SageMaker does in front of a multi-model container, on loopback.

    POST /endpoints/<name>/invocations                   X-Amzn-SageMaker-Target-Model: <target>
    POST /endpoints/<name>/invocations-response-stream   (the same, answered as an AWS event stream)

On the first call for a target it fetches `s3://<bucket>/<model prefix><target>` (the emulated lake's
`models/` zone by default) into the container's model folder, asks the container to load it
(`POST /models`), then invokes it (`POST /models/<name>/invoke`); a model the container evicted is
loaded again. Answers look like SageMaker's on the wire, so boto3's `sagemaker-runtime` client works
unchanged: 200 with the container's body; a container error becomes 424 `ModelError` carrying
`OriginalStatusCode` and `OriginalMessage`; an unknown endpoint or a target missing from S3 becomes
400 `ValidationError`. The streaming route wraps each line the container streams in a `PayloadPart`
event (`vnd.amazon.eventstream` framing), which `invoke_endpoint_with_response_stream` reads. That
call has no TargetModel parameter (AWS does not stream from multi-model endpoints), so a call without
the header goes to `default_target` when one is set (the champion, say), else it is a ValidationError.

Correlation, as SageMaker does it: the caller's `CustomAttributes` (`X-Amzn-SageMaker-Custom-Attributes`)
reach the container verbatim on the invoke call, and whatever the container sets in the same response
header comes back as the response's `CustomAttributes` (SageMaker adds nothing of its own there). Every
answer, errors included, carries a fresh `x-amzn-RequestId` (boto3's `ResponseMetadata.RequestId`).

It imports no torch and knows nothing of models beyond the container's HTTP contract.

    python -m flywheel.local.endpoint --container http://127.0.0.1:8080 --model-dir /tmp/models
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import struct
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

from flywheel.names import StackNames
from flywheel.observability.correlation import CUSTOM_ATTRIBUTES_HEADER

TARGET_HEADER = "X-Amzn-SageMaker-Target-Model"
_ROUTE = re.compile(r"^/endpoints/([^/]+)/(invocations|invocations-response-stream)$")


class EndpointError(Exception):
    """An error SageMaker itself answers (not the container): `code` is the AWS error code."""

    def __init__(self, status: int, code: str, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra or {}


def container_model_name(target: str) -> str:
    """A path-safe, collision-free name for a target (SageMaker also renames targets for the container)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", target).strip("-.")[:64] or "model"
    return f"{slug}-{hashlib.sha1(target.encode()).hexdigest()[:8]}"


class LocalEndpoint(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, container_url: str, model_dir: str | Path, *, names: StackNames | None = None,
                 endpoint_name: str | None = None, bucket: str | None = None, model_prefix: str | None = None,
                 s3_client=None, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 120.0,
                 default_target: str | None = None):
        names = names or StackNames()
        self.endpoint_name = endpoint_name or names.endpoint
        self.bucket = bucket or names.bucket
        self.model_prefix = model_prefix if model_prefix is not None else names.zone_prefix("models")
        self.model_dir = Path(model_dir)
        self.timeout_s = timeout_s
        self.default_target = default_target
        split = urlsplit(container_url)
        self._container = (split.hostname, split.port or 80)
        self._s3 = s3_client
        self._loading_lock = threading.Lock()
        self._target_locks: dict[str, threading.Lock] = {}
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name="local-endpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- SageMaker's part --------------------------------------------------------------------------
    def s3(self):
        if self._s3 is None:
            import boto3  # lazily: AWS_ENDPOINT_URL (moto) must be set before the client exists

            self._s3 = boto3.client("s3")
        return self._s3

    def container(self, method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(*self._container, timeout=self.timeout_s)
        sent = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers={**sent, **(headers or {})})
        return conn.getresponse()

    def ensure_loaded(self, target: str, force: bool = False) -> str:
        """Fetch and load `target` into the container unless it is there; returns its container name."""
        name = container_model_name(target)
        with self._loading_lock:
            lock = self._target_locks.setdefault(name, threading.Lock())
        with lock:  # one download per target, however many callers arrive at once
            if not force:
                response = self.container("GET", f"/models/{name}")
                response.read()
                if response.status == 200:
                    return name
            folder = self.model_dir / name
            archive = folder / "model.tar.gz"
            if not archive.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                key = f"{self.model_prefix}{target}"
                from botocore.exceptions import BotoCoreError, ClientError

                try:
                    self.s3().download_file(self.bucket, key, str(archive))
                except (BotoCoreError, ClientError) as exc:  # the target is not there (or S3 is not)
                    archive.unlink(missing_ok=True)
                    raise EndpointError(400, "ValidationError",
                                        f"Failed to download model data for target model {target} from "
                                        f"s3://{self.bucket}/{key}: {exc}") from None
            response = self.container("POST", "/models",
                                      json.dumps({"model_name": name, "url": str(folder)}).encode())
            text = response.read().decode(errors="replace")
            if response.status not in (200, 409):
                raise _model_error(response.status, text)
            return name

    def invoke(self, target: str, body: bytes, stream: bool, custom_attributes: str | None = None
               ) -> http.client.HTTPResponse:
        name = self.ensure_loaded(target)
        path = f"/models/{name}/invoke"
        if stream:
            body = _with_stream(body)
        headers = {CUSTOM_ATTRIBUTES_HEADER: custom_attributes} if custom_attributes else {}
        response = self.container("POST", path, body, headers)
        if response.status == 404:  # the container evicted it since: load again, once
            response.read()
            self.ensure_loaded(target, force=True)
            response = self.container("POST", path, body, headers)
        return response


def _with_stream(body: bytes) -> bytes:
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body  # the container answers 400 with its reason
    if isinstance(obj, dict):
        obj["stream"] = True
        return json.dumps(obj).encode()
    return body


def _model_error(status: int, text: str) -> EndpointError:
    kind = "CLIENT" if 400 <= status < 500 else "SERVER"
    return EndpointError(424, "ModelError",
                         f"Received {kind.lower()} error ({status}) from primary with message \"{text}\".",
                         {"ErrorCode": f"{kind}_ERROR_FROM_MODEL", "OriginalStatusCode": status,
                          "OriginalMessage": text,
                          "LogStreamArn": "arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints"})


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event-stream framing (what `vnd.amazon.eventstream` bodies are made of)."""
    head = b"".join(struct.pack(">B", len(k)) + k.encode() + struct.pack(">BH", 7, len(v)) + v.encode()
                    for k, v in headers.items())  # header type 7: a string
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def payload_part(data: bytes) -> bytes:
    return event_message({":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                          ":message-type": "event"}, data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalEndpoint

    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._request_id = str(uuid.uuid4())  # SageMaker's own id for this call, on every answer
        try:
            match = _ROUTE.match(urlsplit(self.path).path)
            if not match:
                raise EndpointError(404, "UnknownOperationException", f"no operation at {self.path}")
            endpoint, route = unquote(match.group(1)), match.group(2)
            if endpoint != self.server.endpoint_name:
                raise EndpointError(400, "ValidationError", f"Endpoint {endpoint} of account local not found.")
            target = self.headers.get(TARGET_HEADER) or self.server.default_target
            if not target:
                raise EndpointError(400, "ValidationError",
                                    f"{TARGET_HEADER} is required by the multi-model endpoint {endpoint}")
            stream = route == "invocations-response-stream"
            response = self.server.invoke(target, body, stream, self.headers.get(CUSTOM_ATTRIBUTES_HEADER))
            if response.status != 200:
                raise _model_error(response.status, response.read().decode(errors="replace"))
            echoed = response.headers.get(CUSTOM_ATTRIBUTES_HEADER)
            extra = {CUSTOM_ATTRIBUTES_HEADER: echoed} if echoed else {}
            if stream:
                return self._relay_stream(response, extra)
            data = response.read()
            self._send(200, data, {"Content-Type": response.headers.get("Content-Type", "application/json"),
                                   "X-Amzn-Invoked-Production-Variant": "AllTraffic", **extra})
        except EndpointError as exc:
            error = {"__type": exc.code, "message": str(exc), **exc.extra}
            self._send(exc.status, json.dumps(error).encode(),
                       {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})
        except (OSError, http.client.HTTPException) as exc:  # the container is unreachable
            self._send(424, json.dumps({"__type": "ModelError", "message": f"container unreachable: {exc}",
                                        "OriginalStatusCode": 502}).encode(),
                       {"Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"})

    def _relay_stream(self, response: http.client.HTTPResponse, extra: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", response.headers.get("Content-Type", ""))
        self.send_header("X-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("x-amzn-RequestId", self._request_id)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in response:  # the container's newline-delimited JSON, one event per line
                event = payload_part(line)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("x-amzn-RequestId", self._request_id)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flywheel.local.endpoint", description=__doc__.splitlines()[0])
    parser.add_argument("--container", required=True, help="the multi-model container's URL")
    parser.add_argument("--model-dir", required=True, help="where targets are downloaded for the container")
    parser.add_argument("--stack", default="local")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with LocalEndpoint(args.container, args.model_dir, names=StackNames(stack=args.stack), port=args.port) as ep:
        print(f"local endpoint {ep.endpoint_name} at {ep.url} -> {args.container}", flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
