"""The local API: an HTTP front that plays API Gateway for the Lambda handlers in `functions/`.

Each HTTP request becomes an API Gateway REST proxy event (payload format 1.0: `resource`, `path`,
`httpMethod`, `headers`/`multiValueHeaders`, query parameters, `pathParameters`, `requestContext`
with `requestId` and `identity.apiKey`, `body`, `isBase64Encoded`) for the same `lambda_handler` that
AWS runs, and the handler's proxy response becomes the HTTP response. Like API Gateway it:

- checks the API key in `x-api-key` (403 `{"message": "Forbidden"}`); it also accepts the key as the
  `Authorization: Bearer` token, which is what the `openai` client sends;
- answers 403 `Missing Authentication Token` for a path or method no route has, 413 beyond 10 MB;
- answers 502 `Internal server error` when a handler raises or returns something that is not a proxy
  response, and 504 when it runs past the 29-second integration timeout.

Handlers run in a pool of worker processes, each one a Lambda execution environment: it imports a
handler on its first event (its cold start) and runs one event at a time. That matters: a Powertools
resolver keeps the current event in class state, so two events must never share a process at once,
and real concurrency is what exercises idempotency races. The front knows nothing of chat or feedback.

    api = LocalApi(env=stack.env() | {...}, port=8000).start()
    api.url, api.api_key                          # 'http://127.0.0.1:8000/v1', 'fw-...'
    openai.OpenAI(base_url=api.url, api_key=api.api_key)
    api.stop()

Beside the API it can serve the local dashboard (`flywheel.local.dashboard`): `GET /dashboard` is the
page (public, static), `GET /dashboard/data?minutes=N` its JSON, which needs the API key like the API.

`flywheel up --port P` (`main` below) starts the whole local stack and serves this until Ctrl-C; it
publishes every process's embedded-metric-format lines to the stack's CloudWatch as they are printed
(as CloudWatch Logs does in AWS), so the dashboard shows them within a second or two.
"""

from __future__ import annotations

import base64
import hmac
import importlib.util
import json
import multiprocessing
import os
import re
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
INTEGRATION_TIMEOUT_S = 29.0  # API Gateway's REST integration timeout
STAGE = "v1"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # API Gateway's resource path, with {parameters}
    function: str  # the folder under functions/

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.resource) + "$")


ROUTES = (
    Route("POST", "/v1/chat/completions", "chat"),
    Route("POST", "/v1/moderations", "moderation"),
    Route("POST", "/v1/feedback", "feedback"),
    Route("GET", "/v1/models", "models"),
    Route("GET", "/v1/models/{model}", "models"),
)


# ----------------------------------------------------------------------------- worker processes
_handlers: dict[str, Any] = {}


def _worker_init(env: dict[str, str], functions_dir: str) -> None:
    import signal

    # Ctrl-C reaches the whole process group; the parent stops the workers, they must not die mid-event.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    os.environ["FLYWHEEL_FUNCTIONS_DIR"] = functions_dir


def _handler(function: str) -> Any:
    if function not in _handlers:
        path = Path(os.environ["FLYWHEEL_FUNCTIONS_DIR"]) / function / "handler.py"
        spec = importlib.util.spec_from_file_location(f"flywheel_function_{function}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[function] = module.lambda_handler
    return _handlers[function]


class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, function: str, request_id: str, timeout_s: float):
        self.function_name = f"flywheel-{function}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Runs in a worker: one event through one handler. Raising is the Lambda's unhandled error."""
    context = LambdaContext(function, str(uuid.uuid4()), INTEGRATION_TIMEOUT_S)
    return _handler(function)(event, context)


def _warm(functions: tuple[str, ...]) -> int:
    for function in functions:
        _handler(function)
    return os.getpid()


# ----------------------------------------------------------------------------- events and answers
def build_event(method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, route: Route,
                path_params: dict[str, str], source_ip: str, api_key: str | None) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0) for one HTTP request."""
    split = urlsplit(raw_path)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query = parse_qsl(split.query, keep_blank_values=True)
    query_single = {k: v for k, v in query} or None
    query_multi: dict[str, list[str]] = {}
    for k, v in query:
        query_multi.setdefault(k, []).append(v)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    request_id = str(uuid.uuid4())
    path = unquote(split.path)
    return {
        "resource": route.resource, "path": path, "httpMethod": method,
        "headers": single or None, "multiValueHeaders": multi or None,
        "queryStringParameters": query_single, "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_params or None, "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "resourceId": route.function,
            "resourcePath": route.resource, "httpMethod": method, "path": f"/{STAGE}{path}",
            "stage": STAGE, "requestId": request_id, "extendedRequestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000), "protocol": "HTTP/1.1", "domainName": "127.0.0.1",
            "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent") or single.get("user-agent"),
                         "apiKey": api_key, "apiKeyId": "local-key" if api_key else None},
        },
        "body": text if body else None, "isBase64Encoded": encoded,
    }


def _gateway_error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": message.replace(" ", "")}, \
        json.dumps({"message": message}).encode()


def proxy_response(answer: Any) -> tuple[int, dict[str, str], bytes]:
    """A handler's proxy response → status, headers, body; 502 when it is not one (as API Gateway)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        return _gateway_error(502, "Internal server error")
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ", ".join(str(v) for v in values)
    body = answer.get("body") or ""
    data = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
    return answer["statusCode"], headers, data


# ----------------------------------------------------------------------------- the HTTP front
class LocalApi:
    """API Gateway on loopback for the handlers in `functions/`, with an API key."""

    def __init__(self, env: dict[str, str], *, port: int = 0, api_key: str | None = None, workers: int = 4,
                 functions_dir: Path = FUNCTIONS_DIR, host: str = "127.0.0.1", dashboard: Any = None):
        self.api_key = api_key or os.environ.get("FLYWHEEL_API_KEY") or f"fw-{secrets.token_urlsafe(24)}"
        self.env = {**env, "POWERTOOLS_METRICS_NAMESPACE": env.get("POWERTOOLS_METRICS_NAMESPACE", "Flywheel"),
                    "POWERTOOLS_SERVICE_NAME": env.get("POWERTOOLS_SERVICE_NAME", "api")}
        self.workers = workers
        self.functions_dir = functions_dir
        self.dashboard = dashboard  # a flywheel.local.dashboard.Dashboard, or None for the API alone
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self._host}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/{STAGE}"

    def start(self, warm: tuple[str, ...] = ()) -> Self:
        # spawn, not fork: the parent runs threads (moto server, this front) that fork would copy mid-flight.
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_init, initargs=(self.env, str(self.functions_dir)))
        if warm:
            # Every worker imports the handlers now, so the first requests do not pay the cold starts.
            list(self._pool.map(_warm, [warm] * self.workers))
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # the handlers log; the front stays quiet
                pass

            def _serve(self) -> None:
                status, headers, body = api.handle(self.command, self.path, list(self.headers.items()),
                                                   self.rfile, self.client_address[0])
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self._server = Server((self._host, self._port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)
        self._thread.start()
        return self

    def _authorised(self, headers: list[tuple[str, str]]) -> str | None:
        for name, value in headers:
            lower = name.lower()
            if lower == "x-api-key":
                candidate = value.strip()
            elif lower == "authorization" and value.lower().startswith("bearer "):
                candidate = value[7:].strip()
            else:
                continue
            if hmac.compare_digest(candidate.encode(), self.api_key.encode()):
                return candidate
        return None

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], rfile: Any, source_ip: str
               ) -> tuple[int, dict[str, str], bytes]:
        length_header = next((v for k, v in headers if k.lower() == "content-length"), "0")
        try:
            length = int(length_header)
        except ValueError:
            return _gateway_error(400, "Bad Request")
        if length > MAX_BODY:
            return _gateway_error(413, "Request Too Long")
        body = rfile.read(length) if length > 0 else b""
        path = unquote(urlsplit(raw_path).path)
        if self.dashboard is not None and (path == "/dashboard" or path.startswith("/dashboard/")):
            return self.serve_dashboard(method, path, raw_path, headers)
        for route in ROUTES:
            match = route.pattern.match(path)
            if match and route.method == method:
                break
        else:
            return _gateway_error(403, "Missing Authentication Token")
        key = self._authorised(headers)
        if key is None:
            return _gateway_error(403, "Forbidden")
        event = build_event(method, raw_path, headers, body, route, match.groupdict(), source_ip, key)
        return self.invoke(route.function, event)

    def serve_dashboard(self, method: str, path: str, raw_path: str, headers: list[tuple[str, str]]
                        ) -> tuple[int, dict[str, str], bytes]:
        """The dashboard's page, its files and its data (the data needs the API key)."""
        from flywheel.local.dashboard import DashboardError

        # The page may load only this server's own files and talk only to this server.
        common = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                  "Content-Security-Policy": "default-src 'self'; img-src 'self' data:"}
        if method not in ("GET", "HEAD"):
            return _gateway_error(405, "Method Not Allowed")
        name = path.removeprefix("/dashboard").strip("/") or "index.html"
        try:
            if name == "data":
                if self._authorised(headers) is None:
                    return _gateway_error(403, "Forbidden")
                query = dict(parse_qsl(urlsplit(raw_path).query))
                try:
                    minutes = int(query.get("minutes", "60"))
                except ValueError:
                    raise DashboardError(400, f"minutes must be an integer, got {query['minutes']!r}") from None
                body = json.dumps(self.dashboard.data(minutes=minutes), default=str).encode()
                return 200, {**common, "Content-Type": "application/json"}, body
            data, content_type = self.dashboard.asset(name)
            return 200, {**common, "Content-Type": content_type}, data
        except DashboardError as exc:
            return exc.status, {**common, "Content-Type": "application/json"}, json.dumps({"message": str(exc)}).encode()
        except Exception as exc:  # noqa: BLE001 — the stack behind it failed (moto gone, say): say what, keep serving
            return 502, {**common, "Content-Type": "application/json"}, \
                json.dumps({"message": f"the dashboard could not read the stack: {exc}"}).encode()

    def invoke(self, function: str, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        assert self._pool is not None, "not started"
        future = self._pool.submit(_invoke, function, event)
        try:
            answer = future.result(timeout=INTEGRATION_TIMEOUT_S)
        except FutureTimeout:
            return _gateway_error(504, "Endpoint request timed out")
        except Exception:  # noqa: BLE001 — a handler's unhandled error is API Gateway's 502, whatever it is
            return _gateway_error(502, "Internal server error")
        return proxy_response(answer)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- the rest of the local stack
ROOT = Path(__file__).resolve().parents[3]
SERVE = ROOT / "containers" / "inference" / "serve"


@dataclass
class InferenceProcess:
    """The inference container's `serve` entry point, run as a local process (multi-model mode)."""

    url: str
    process: Any
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001 — whatever kept it alive, it must not outlive us
            self.process.kill()


def start_inference_server(work_dir: Path, *, env: dict[str, str] | None = None, timeout_s: float = 120.0
                           ) -> InferenceProcess:
    import subprocess
    import sys

    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / "serve.log"
    full_env = {**os.environ, "SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_BIND_TO_PORT": "0",
                "FLYWHEEL_BIND_HOST": "127.0.0.1", "FLYWHEEL_WORK_DIR": str(work_dir / "work"), **(env or {})}
    (work_dir / "work").mkdir(exist_ok=True)
    out = open(log, "w")  # noqa: SIM115 — the server writes it for as long as it runs
    process = subprocess.Popen([sys.executable, str(SERVE)], stdout=out, stderr=subprocess.STDOUT, env=full_env,
                               cwd=work_dir)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text()
        if "listening on " in text:
            return InferenceProcess(f"http://{text.split('listening on ', 1)[1].split()[0]}", process, log)
        if process.poll() is not None:
            raise RuntimeError(f"the inference server exited with {process.returncode}:\n{text}")
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the inference server did not start in {timeout_s:.0f}s:\n{log.read_text()}")


def publish_model(s3: Any, names: Any, artifact: Path, version: str | None = None) -> str:
    """Upload an artifact (folder or model.tar.gz) to the lake's models/ zone; returns its version."""
    import tempfile

    from flywheel.api.routing import target_model
    from flywheel.model.artifact import pack, read_meta

    artifact = Path(artifact)
    with tempfile.TemporaryDirectory() as tmp:
        if artifact.is_dir():
            version = version or read_meta(artifact)["version"]
            archive = pack(artifact, Path(tmp) / "model.tar.gz")
        else:
            archive = artifact
            if version is None:
                from flywheel.model.artifact import unpack

                version = read_meta(unpack(archive, Path(tmp) / "model"))["version"]
        s3.upload_file(str(archive), names.bucket, names.zone_prefix("models") + target_model(version))
    return version


def find_latest_model(search: list[Path]) -> Path | None:
    """The newest artifact folder (config.json + model.safetensors) or model.tar.gz under `search`."""
    found: list[Path] = []
    for root in search:
        if root.is_dir():
            found += [p.parent for p in root.rglob("model.safetensors") if (p.parent / "config.json").exists()]
            found += list(root.rglob("model.tar.gz"))
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def train_small_model(out: Path) -> Path | None:
    """Train a debug-size model with the training entry point, if this checkout has one."""
    try:
        from flywheel.local import demo
    except ImportError:
        return None
    if not hasattr(demo, "main"):
        return None
    print(f"flywheel up: no trained model found; training a small one into {out} "
          f"(`flywheel demo --preset small --steps 100`) ...", flush=True)
    code = demo.main(["--out", str(out), "--preset", "small", "--steps", "100"])
    return find_latest_model([out]) if code == 0 else None


def policy_fit(artifact: Path) -> str | None:
    """A warning when the server's system policy alone fills the model's context (every chat would be
    refused by the model with a 400), else None."""
    import tempfile

    from flywheel.model.artifact import TOKENIZER_FILE, read_meta, unpack
    from flywheel.model.tokenizer import ChatTokenizer
    from flywheel.safety import active_policy, apply_policy

    with tempfile.TemporaryDirectory() as tmp:
        folder = artifact if artifact.is_dir() else unpack(artifact, Path(tmp) / "model")
        context = int(read_meta(folder)["model"]["block_size"])
        tokenizer = ChatTokenizer.from_file(folder / TOKENIZER_FILE)
    prompt, _ = tokenizer.encode_chat(apply_policy([{"role": "user", "content": "hello"}]),
                                      add_generation_prompt=True)
    if len(prompt) < context:
        return None
    policy = active_policy()
    return (f"the system policy {policy.version!r} makes even a one-word prompt {len(prompt)} tokens, but the "
            f"model's context is {context}: the model will refuse every chat request (400 "
            f"model_rejected_request). Serve a model with a longer context, or point FLYWHEEL_SAFETY_CONFIG "
            f"at a configuration with a shorter policy.")


def _publish(bridge: Any) -> None:
    """Publish what the bridge holds; a failed call is reported on stderr (those lines are lost)."""
    try:
        bridge.flush()
    except Exception as exc:  # noqa: BLE001 — metrics must never stop the API; the lines are lost, say so
        print(f"flywheel up: could not publish metrics to CloudWatch: {exc}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """`flywheel up`: moto server, the inference server, the local endpoint and this API, until Ctrl-C."""
    import argparse
    import signal
    import tempfile

    parser = argparse.ArgumentParser(prog="flywheel up", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8000, help="port of the API (default 8000)")
    parser.add_argument("--model", type=Path, default=None,
                        help="artifact folder or model.tar.gz to serve (default: the newest under --runs)")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where trained models are looked for")
    parser.add_argument("--stack", default="local", help="stack name (resource names come from it)")
    parser.add_argument("--workers", type=int, default=2, help="handler processes (concurrent Lambdas)")
    args = parser.parse_args(argv)

    from flywheel.api.routing import write_routing
    from flywheel.feedback.gate import RoutingRecord
    from flywheel.local.dashboard import Dashboard
    from flywheel.local.endpoint import LocalEndpoint
    from flywheel.local.stack import LocalStack
    from flywheel.names import StackNames
    from flywheel.observability.local_sink import EmfBridge, capture_stdout, tail_file
    from flywheel.safety.config import POLICY_VERSION_ENV, load_config

    model = args.model or find_latest_model([args.runs])
    if model is None:
        model = train_small_model(args.runs / "up")
    if model is None or not model.exists():
        print("flywheel up: no trained model to serve. Train one first (`flywheel demo --out runs/demo` or "
              "`flywheel train ...`), or pass --model PATH.", flush=True)
        return 2

    warning = policy_fit(model)
    if warning and not os.environ.get(POLICY_VERSION_ENV):
        # A small local model cannot hold the full policy: serve the packaged compact one instead.
        os.environ[POLICY_VERSION_ENV] = "compact"
        load_config.cache_clear()
        print(f"flywheel up: the model's context is too short for the default system policy; "
              f"serving with {POLICY_VERSION_ENV}=compact", flush=True)
        warning = policy_fit(model)
    if warning:
        print(f"flywheel up: WARNING: {warning}", flush=True)
    names = StackNames(stack=args.stack)
    stopping = threading.Event()
    # Ctrl-C and SIGTERM both stop it. SIGINT gets a handler of its own rather than Python's default:
    # a process started in the background by a non-interactive shell inherits SIGINT ignored, and then
    # Python never raises KeyboardInterrupt for it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    with tempfile.TemporaryDirectory(prefix="flywheel-up-") as tmp, LocalStack.start(names) as stack:
        version = publish_model(stack.client("s3"), names, model)
        write_routing(names.dynamo_table("routing"), RoutingRecord(route="chat", champion=version,
                                                                    history=({"at": time.time()},)))
        # Every process's EMF lines become CloudWatch metrics in moto as they are printed: the handler
        # workers inherit this process's stdout (captured), the inference server's log file is followed.
        bridge = EmfBridge(client=stack.client("cloudwatch"), keep_logs=False)
        import boto3
        from botocore.config import Config

        # The dashboard's reads go without retries: it asks again in five seconds anyway.
        dashboard = Dashboard(names, cloudwatch=boto3.client("cloudwatch", endpoint_url=stack.endpoint_url,
                                                             config=Config(retries={"total_max_attempts": 1})),
                              s3=stack.client("s3"), dynamodb=stack.client("dynamodb"))
        with capture_stdout(bridge, echo_emf=False):
            container = start_inference_server(Path(tmp) / "serve")
            tail_stop = threading.Event()
            tail = threading.Thread(target=tail_file, args=(container.log, bridge, tail_stop), name="serve-log",
                                    daemon=True)
            tail.start()
            try:
                with LocalEndpoint(container.url, Path(tmp) / "models", names=names,
                                   s3_client=stack.client("s3")) as ep:
                    env = {**stack.env(), "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": ep.url,
                           **({POLICY_VERSION_ENV: os.environ[POLICY_VERSION_ENV]}
                              if os.environ.get(POLICY_VERSION_ENV) else {}),
                           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
                    with LocalApi(env, port=args.port, workers=args.workers, dashboard=dashboard).start(
                            warm=("chat", "moderation", "feedback", "models")) as api:
                        print(f"flywheel up: serving {version} ({model})\n"
                              f"  API       {api.url}\n  API key   {api.api_key}\n"
                              f"  Dashboard {api.base_url}/dashboard#key={api.api_key}\n"
                              f"  try       OPENAI_BASE_URL={api.url} OPENAI_API_KEY={api.api_key} python -c "
                              f"\"import openai; print(openai.OpenAI().chat.completions.create(model='flywheel', "
                              f"messages=[{{'role': 'user', 'content': 'hello'}}]).choices[0].message.content)\"\n"
                              f"Ctrl-C stops it.", flush=True)
                        try:
                            while not stopping.wait(0.5):
                                _publish(bridge)
                        except KeyboardInterrupt:
                            pass
            finally:
                container.stop()
                tail_stop.set()
                tail.join(timeout=5)
    print("flywheel up: stopped", flush=True)
    return 0
