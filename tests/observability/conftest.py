"""Observability tests reuse the API tests' environment fixtures (moto stack variables, compact policy)."""

from tests.api.conftest import api_env, compact_safety_config  # noqa: F401 - fixtures, found by name
