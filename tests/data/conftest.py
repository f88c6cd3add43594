"""Fixtures of the data tests: a small demo corpus on disk, and one run of the cleaning job over it."""

from __future__ import annotations

import pytest

# A few modules keep the corpus (and every job run over it) to seconds.
SMALL_MODULES = ("json", "csv", "argparse", "textwrap", "string", "heapq", "bisect", "statistics", "shutil")


@pytest.fixture(scope="session")
def demo_raw(tmp_path_factory):
    from flywheel.data.demo_corpus import build

    folder = tmp_path_factory.mktemp("raw")
    build(folder, modules=SMALL_MODULES, files=3)
    return folder


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, demo_raw):
    """(output folder, manifest) of one job over the demo corpus: 2 tasks, in-process."""
    from flywheel.data.prepare import CleaningConfig, prepare

    out = tmp_path_factory.mktemp("prepared") / "channel"
    manifest = prepare(str(demo_raw), out, CleaningConfig(vocab_size=512), tasks=2, workers=1,
                       log=lambda *_: None)
    return out, manifest
