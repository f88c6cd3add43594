"""Fixtures for the API tests: the real handlers, behind the real local front, against moto server.

`api_env` is what a function's environment holds locally (the moto stack's variables plus Powertools');
`local_api` is `flywheel.local.api.LocalApi` on loopback with worker processes running the handlers;
`load_handler(name)` imports `functions/<name>/handler.py` into this process (for fuzzing the handler
directly, as Lambda calls it); `seed_completion` remembers a completion as the chat function does.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.fixture(scope="session")
def api_env(moto_stack) -> dict[str, str]:
    return {**moto_stack.env(), "POWERTOOLS_METRICS_NAMESPACE": "Flywheel", "POWERTOOLS_SERVICE_NAME": "api",
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="session")
def routed(moto_stack):
    """A routing record naming a champion, as a deploy writes it."""
    from flywheel.api.routing import write_routing
    from flywheel.feedback.gate import RoutingRecord

    record = RoutingRecord(route="chat", champion="test-v1", history=({"at": 1_790_000_000.0},))
    write_routing(moto_stack.names.dynamo_table("routing"), record)
    return record


@pytest.fixture(scope="session")
def local_api(api_env, routed):
    from flywheel.local.api import LocalApi

    with LocalApi(api_env, workers=4).start(warm=("feedback", "moderation", "models")) as api:
        yield api


@pytest.fixture(scope="session")
def load_handler(api_env):
    import os

    loaded = {}

    def load(name: str):
        if name not in loaded:
            os.environ.update(api_env)
            spec = importlib.util.spec_from_file_location(f"test_function_{name}", FUNCTIONS / name / "handler.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def seed_completion(moto_stack):
    from flywheel.api.lake import remember_interaction

    def seed(n: int = 1, version: str = "test-v1") -> str:
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        remember_interaction(moto_stack.names.dynamo_table("interactions"), completion_id=completion_id,
                             request_id=str(uuid.uuid4()), model_version=version, n=n, created=1_800_000_000,
                             ttl_days=3650)
        return completion_id

    return seed


COMPACT_POLICY = "Be helpful, honest and harmless. Refuse harmful requests."


@pytest.fixture(scope="session")
def compact_safety_config(tmp_path_factory) -> Path:
    """The packaged safety configuration with a short system policy ("compact"), so the prompt fits the
    64-token context of the tiny test model; every other setting (thresholds, topics) is the default."""
    import json

    from flywheel.safety.config import DEFAULT_CONFIG_PATH

    folder = tmp_path_factory.mktemp("safety")
    (folder / "policies").mkdir()
    (folder / "policies" / "compact.txt").write_text(COMPACT_POLICY)
    config = json.loads(Path(DEFAULT_CONFIG_PATH).read_text())
    config.update(policy_version="compact", policy_dir=str(folder / "policies"))
    (folder / "config.json").write_text(json.dumps(config))
    return folder / "config.json"


@pytest.fixture(scope="session")
def chat_api(api_env, moto_stack, tiny_artifact, compact_safety_config, tmp_path_factory):
    """The whole chat path for real: the inference server process, the local SageMaker endpoint in front
    of it, the tiny model uploaded to the lake's models/ zone and routed as champion, and the front."""
    from flywheel.api.routing import write_routing
    from flywheel.feedback.gate import RoutingRecord
    from flywheel.local.api import LocalApi, publish_model, start_inference_server
    from flywheel.local.endpoint import LocalEndpoint

    work = tmp_path_factory.mktemp("chat")
    version = publish_model(moto_stack.client("s3"), moto_stack.names, tiny_artifact)
    write_routing(moto_stack.names.dynamo_table("routing"),
                  RoutingRecord(route="chat", champion=version, history=({"at": 1_790_000_000.0},)))
    container = start_inference_server(work / "serve", env={"FLYWHEEL_TORCH_THREADS": "1"})
    try:
        with LocalEndpoint(container.url, work / "models", names=moto_stack.names,
                           s3_client=moto_stack.client("s3")) as endpoint:
            env = {**api_env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
                   "FLYWHEEL_SAFETY_CONFIG": str(compact_safety_config)}
            with LocalApi(env, workers=2).start(warm=("chat",)) as api:
                api.model_version = version
                yield api
    finally:
        container.stop()
