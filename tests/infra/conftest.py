"""Fixtures for the Pulumi program's tests: whole-program runs under mocks (once per session, they take
seconds), and parliament, the IAM policy linter.

No AWS, no Pulumi CLI: `infra.mocks` records what the program registers and answers its invokes.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import types

import pytest

# The whole program under the stack configuration a fresh stack has (only aws:region), and under one
# that turns every optional part on.
FULL_CONFIG = {
    "flywheel:serving": {"deployEndpoint": True, "gpuInstanceType": "ml.g5.xlarge"},
    "flywheel:network": {"enabled": True},
    "flywheel:observability": {"alarmEmail": "oncall@example.com"},
}


@pytest.fixture(scope="session", autouse=True)
def _quiet_sdk():
    logging.getLogger("sagemaker").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def default_run():
    from infra.mocks import run_program

    return run_program()


@pytest.fixture(scope="session")
def full_run():
    from infra.mocks import run_program

    return run_program(FULL_CONFIG, stack="full")


def _parliament():
    # parliament 1.6 imports pkg_resources only to find its own data files; setuptools >= 81 no longer
    # ships pkg_resources. This stand-in answers that one call from the installed package's folder.
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            return os.path.join(os.path.dirname(importlib.util.find_spec(package).origin), name)

        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    import parliament

    return parliament


@pytest.fixture(scope="session")
def lint_policy():
    """Return parliament's findings for one IAM policy document (dict or JSON string)."""
    parliament = _parliament()

    def lint(doc) -> list:
        text = doc if isinstance(doc, str) else json.dumps(doc)
        policy = parliament.analyze_policy_string(text)
        return [f"{f.issue}: {f.detail}" for f in policy.findings]

    return lint


def pytest_collection_modifyitems(config, items):
    # The SageMaker SDK and pulumi-aws warn about their own deprecations on import; not ours to fix.
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::UserWarning"))
