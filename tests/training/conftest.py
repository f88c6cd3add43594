"""Fixtures for the training tests: real shard channels, and a runner for the real training script.

`pretrain_channel` holds the stdlib docstrings (train and val splits), `sft_channel` chats rendered with
the chat template. `run_train` starts `training_jobs/train.py` (or `torchrun` over it) as a process
with every SageMaker path pointed into a temporary folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.data.shards import write_channel

REPO = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO / "training_jobs" / "train.py"
STEP_LOSS = re.compile(r"^step=(\d+) train_loss=([0-9.eE+-]+|nan)", re.MULTILINE)
VAL_LOSS = re.compile(r"^step=(\d+) val_loss=([0-9.eE+-]+|nan)", re.MULTILINE)

# A fixed exchange: learnable text on both sides, so only the loss mask decides what is learned.
USER_TEXT = "Return an iterator over the keys of the mapping."
ASSISTANT_TEXT = "Sorted lists stay sorted: bisect finds the insertion point."


@pytest.fixture(scope="session")
def pretrain_channel(tmp_path_factory, chat_tokenizer, corpus_texts) -> Path:
    docs = chat_tokenizer.encode_batch(corpus_texts)
    directory = tmp_path_factory.mktemp("channels") / "pretrain"
    write_channel(directory, chat_tokenizer, {"train": docs[20:], "val": docs[:20]}, kind="pretrain",
                  data_version="stdlib-docs-test-v1", shard_tokens=8192)
    return directory


@pytest.fixture(scope="session")
def sft_channel(tmp_path_factory, chat_tokenizer) -> Path:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": USER_TEXT},
            {"role": "assistant", "content": ASSISTANT_TEXT}]
    pairs = [chat_tokenizer.encode_chat(chat) for _ in range(200)]
    directory = tmp_path_factory.mktemp("channels") / "sft"
    write_channel(directory, chat_tokenizer, {"train": pairs[20:], "val": pairs[:20]}, kind="sft",
                  data_version="chats-test-v1")
    return directory


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """In-process jobs run single-threaded too (see job_env); the caller's setting comes back after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def job_paths(root: Path) -> dict[str, Path]:
    return {name: root / name for name in ("model", "output", "checkpoints", "failure")}


def job_args(root: Path, channel: Path, *extra: str) -> list[str]:
    paths = job_paths(root)
    return ["--train-dir", str(channel), "--model-dir", str(paths["model"]),
            "--output-data-dir", str(paths["output"]), "--checkpoint-dir", str(paths["checkpoints"]),
            "--failure-file", str(paths["failure"]), "--preset", "debug", *extra]


def job_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SM_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env["PYTHONUNBUFFERED"] = "1"
    # One intra-op thread: debug-sized ops gain nothing from two, and on a machine shared with other
    # test processes a second spinning OpenMP thread makes every step wait for the scheduler.
    env["OMP_NUM_THREADS"] = "1"
    env.update(overrides)
    return env


def run_train(args: list[str], *, nproc: int = 1, env: dict | None = None, timeout: float = 240
              ) -> subprocess.CompletedProcess:
    if nproc == 1:
        command = [sys.executable, str(TRAIN_SCRIPT), *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                   "--standalone", str(TRAIN_SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env or job_env(),
                          check=False)


def train_losses(stdout: str) -> dict[int, float]:
    return {int(step): float(loss) for step, loss in STEP_LOSS.findall(stdout)}
