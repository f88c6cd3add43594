"""Fixtures shared by every test area.

`corpus_texts` is real English text already on any machine with Python (the standard library's
docstrings), `chat_tokenizer` a BPE trained on it, `tiny_artifact` a debug-preset model saved in the
real artifact format. Areas add their own fixtures in `tests/<area>/conftest.py`.
"""

from __future__ import annotations

import importlib
import pydoc

import pytest

STDLIB_MODULES = ("json", "csv", "argparse", "collections", "functools", "itertools", "pathlib",
                  "statistics", "textwrap", "string", "heapq", "bisect", "datetime", "random")


@pytest.fixture(scope="session")
def corpus_texts() -> list[str]:
    texts = []
    for name in STDLIB_MODULES:
        module = importlib.import_module(name)
        for obj in [module, *vars(module).values()]:
            doc = pydoc.getdoc(obj)
            if doc and len(doc) > 80:
                texts.append(doc)
    return sorted(set(texts))


@pytest.fixture(scope="session")
def chat_tokenizer(corpus_texts):
    from flywheel.model.tokenizer import ChatTokenizer

    return ChatTokenizer.train(corpus_texts, vocab_size=512)


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory, chat_tokenizer):
    """A debug-preset GPT (random weights, fixed seed) saved as a real artifact directory."""
    import torch

    from flywheel.model import GPT, preset
    from flywheel.model.artifact import save_artifact

    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=chat_tokenizer.vocab_size))
    directory = tmp_path_factory.mktemp("artifact") / "model"
    save_artifact(directory, model, chat_tokenizer, version="test-v1", data_version="test-data-v1",
                  metrics={"val_loss": float("nan")})
    return directory


@pytest.fixture(scope="session")
def moto_stack():
    """A real moto server on loopback with the stack's resources (flywheel.local.stack), for the session.

    AWS variables point at it while it runs; build boto3 clients inside the test, not at import.
    """
    from flywheel.local.stack import LocalStack
    from flywheel.names import StackNames

    with LocalStack.start(StackNames(project="flywheel", stack="test")) as stack:
        yield stack
