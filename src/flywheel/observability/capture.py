"""Local data capture: what SageMaker's endpoint data capture does, in front of the local endpoint.

In AWS the endpoint configuration's DataCaptureConfig makes SageMaker write every invocation's request
and response to S3 as JSON Lines (the format `flywheel.observability.drift` reads), with the caller's
`InferenceId` as `eventMetadata.inferenceId`. The local endpoint (`flywheel.local.endpoint`) has no
such thing, so `CaptureProxy` sits between a `sagemaker-runtime` client and it: it forwards
`POST /endpoints/<name>/invocations` unchanged (headers included, so the container still sees
`X-Amzn-SageMaker-Custom-Attributes`), answers with the endpoint's answer, and appends one capture
record per invocation to `<out_dir>/<endpoint>/AllTraffic/yyyy/mm/dd/hh/capture.jsonl`.
`recent` keeps the correlation headers of the last invocations (request order) for inspection.

Streaming invocations are forwarded but not captured (SageMaker does not capture them either).

    proxy = CaptureProxy("http://127.0.0.1:8081", Path("runs/capture")).start()
    env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = proxy.url
    ...
    proxy.stop()
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def _side(body: bytes, content_type: str, mode: str) -> dict:
    try:
        data, encoding = body.decode("utf-8"), "JSON"
        json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data, encoding = base64.b64encode(body).decode("ascii"), "BASE64"
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


class CaptureProxy:
    """A forwarding HTTP server that writes SageMaker data-capture records of each invocation."""

    def __init__(self, upstream: str, out_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
                 variant: str = "AllTraffic", keep: int = 100):
        split = urlsplit(upstream)
        self._upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.out_dir, self.variant = Path(out_dir), variant
        self.recent: deque[dict[str, str | None]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self._host}:{self._server.server_address[1]}"

    def _record(self, endpoint: str, headers, body: bytes, status: int, answer_type: str, answer: bytes) -> None:
        now = datetime.now(UTC)
        meta = {"eventId": str(uuid.uuid4()), "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        if headers.get(INFERENCE_ID):
            meta["inferenceId"] = headers[INFERENCE_ID]
        record = {"captureData": {
            "endpointInput": _side(body, headers.get("Content-Type", "application/json"), "INPUT"),
            "endpointOutput": _side(answer, answer_type, "OUTPUT")}, "eventMetadata": meta, "eventVersion": "0"}
        folder = self.out_dir / endpoint / self.variant / now.strftime("%Y/%m/%d/%H")
        with self._lock:
            self.recent.append({"endpoint": endpoint, "status": str(status),
                                "custom_attributes": headers.get(CUSTOM_ATTRIBUTES),
                                "inference_id": headers.get(INFERENCE_ID)})
            if status < 400:  # SageMaker captures the invocations the container answered
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / "capture.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def start(self) -> Self:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the tests' and the demo's output is not for this
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection(*proxy._upstream, timeout=300)
                try:
                    conn.request("POST", self.path, body=body, headers={
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP})
                    answer = conn.getresponse()
                    data = answer.read()
                    status, answer_headers = answer.status, answer.getheaders()
                finally:
                    conn.close()
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "endpoints" and parts[2] == "invocations":
                    proxy._record(parts[1], self.headers, body, status, answer.getheader("Content-Type") or "", data)
                self.send_response(status)
                for key, value in answer_headers:
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="capture-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
