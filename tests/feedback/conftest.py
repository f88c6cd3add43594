"""Fixtures of the feedback tests: toy preference pairs a debug-preset model can learn in a few steps."""

from __future__ import annotations

import pytest

SUBJECTS = ("lists", "tuples", "sets", "strings", "files", "numbers", "dates", "paths", "queues", "maps",
            "loops", "bytes")


def toy_pairs(n: int, offset: int = 0) -> list[dict]:
    """Polite answers preferred over curt ones, for varied prompts."""
    pairs = []
    for i in range(offset, offset + n):
        subject = SUBJECTS[i % len(SUBJECTS)]
        pairs.append({"prompt": [{"role": "user", "content": f"Tell me about {subject}, item {i}."}],
                      "chosen": [{"role": "assistant", "content": f"Gladly: {subject} are useful. Thank you."}],
                      "rejected": [{"role": "assistant", "content": f"No. {subject}? Go away."}]})
    return pairs


@pytest.fixture
def pairs_factory():
    return toy_pairs


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Debug-preset models are tiny: on a shared 2-core machine one intra-op thread is ~10x faster than two
    (measured: 6.5 ms vs 67 ms a decode step under load), and it leaves the other core to other work."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
