"""Fixtures of the serving tests: the real inference server process on loopback, and an HTTP helper.

`start_server(**env)` runs `containers/inference/serve` as a subprocess bound to 127.0.0.1 on a free
port and returns a `Server` (its base URL and its stdout log); every server is stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "containers" / "inference" / "serve"


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def call(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 60):
        """(status, headers, parsed JSON or raw text) of one request; never raises on 4xx/5xx."""
        data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, hdrs, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, hdrs, raw = exc.code, dict(exc.headers), exc.read()
        try:
            return status, hdrs, json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return status, hdrs, raw.decode(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None and self.call("GET", "/ping")[0] == 200


@pytest.fixture(scope="session")
def start_server(tmp_path_factory):
    servers: list[Server] = []

    def start(**env) -> Server:
        folder = tmp_path_factory.mktemp("serve")
        log = folder / "stdout.log"
        full_env = {**os.environ, "FLYWHEEL_BIND_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": "0",
                    "FLYWHEEL_WORK_DIR": str(folder / "work"), "FLYWHEEL_TORCH_THREADS": "1",
                    "PYTHONPATH": str(ROOT / "src"), **{k: str(v) for k, v in env.items()}}
        (folder / "work").mkdir()
        out = open(log, "w")  # noqa: SIM115 - the server process writes it until teardown
        process = subprocess.Popen([sys.executable, str(SERVE)], stdout=out, stderr=subprocess.STDOUT,
                                   env=full_env, cwd=folder)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = log.read_text()
            if "listening on" in text:
                host_port = text.split("listening on ", 1)[1].split()[0]
                server = Server(f"http://{host_port}", process, log)
                servers.append(server)
                return server
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}:\n{text}")
            time.sleep(0.1)
        process.kill()
        raise RuntimeError(f"serve did not start:\n{log.read_text()}")

    yield start
    for server in servers:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture(scope="session")
def mme(start_server) -> Server:
    """A multi-model server with a small batch and queue, so 10x its capacity is a few dozen requests."""
    return start_server(SAGEMAKER_MULTI_MODEL="true", FLYWHEEL_MAX_BATCH=4, FLYWHEEL_MAX_QUEUE=4,
                        FLYWHEEL_MEMORY_BUDGET_MB=256)


@pytest.fixture(scope="session")
def fp32_artifact(tiny_artifact, tmp_path_factory) -> Path:
    """The tiny artifact with `"serving": {"precision": "fp32"}` in its config.json (precision per model)."""
    import shutil

    folder = tmp_path_factory.mktemp("fp32") / "model"
    shutil.copytree(tiny_artifact, folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["serving"] = {"precision": "fp32"}
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def endpoint(moto_stack, mme, tiny_artifact, tmp_path_factory, request):
    """The local SageMaker endpoint in front of the module's `mme` server, with the tiny model uploaded to
    the lake's models/ zone under the requesting module's `TARGET` (fetched on first use, as SageMaker does)."""
    from flywheel.local.endpoint import LocalEndpoint
    from flywheel.model.artifact import pack

    target = request.module.TARGET
    archive = pack(tiny_artifact, tmp_path_factory.mktemp("upload") / "model.tar.gz")
    s3 = moto_stack.client("s3")
    s3.upload_file(str(archive), moto_stack.names.bucket, moto_stack.names.zone_prefix("models") + target)
    with LocalEndpoint(mme.url, tmp_path_factory.mktemp("models"), names=moto_stack.names,
                       s3_client=s3, default_target=target) as ep:
        yield ep


@pytest.fixture(scope="module")
def runtime(endpoint, moto_stack):
    """boto3's sagemaker-runtime client, unchanged but for its endpoint URL: the local endpoint."""
    import boto3
    from botocore.config import Config

    return boto3.client("sagemaker-runtime", endpoint_url=endpoint.url, region_name=moto_stack.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1}))
