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
