"""Deterministic batches from a shard channel's memory-mapped splits.

Training batch `(step, micro)` is a pure function of (seed, step, micro): a generator seeded with those
three draws the window starts of the whole global micro-batch (batch_size × world_size), and each rank
takes its own contiguous slice. So a resumed run sees exactly the batches it would have seen, and the
only "data position" a checkpoint needs is the step.

A window is block_size + 1 consecutive tokens of one shard: inputs are the first block_size, targets the
last. Pretraining windows start anywhere; SFT windows start at a document (chat) boundary so the model
sees each conversation from its first turn, and targets whose loss-mask entry is 0 (system, user, role
tokens) become IGNORE_INDEX. Validation uses the first non-overlapping windows of the split, shared out
round-robin across ranks. This module knows nothing of models or optimizers.
"""

from __future__ import annotations

import numpy as np
import torch

from flywheel.data.shards import ChannelError, Split
from flywheel.model.gpt import IGNORE_INDEX


def _window(split: Split, shard: int, start: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    ids, mask = split.shards[shard]
    tokens = np.asarray(ids[start:start + block_size + 1], dtype=np.int64)  # (T + 1,)
    x, y = tokens[:-1], tokens[1:].copy()
    if mask is not None:
        y[np.asarray(mask[start + 1:start + block_size + 1]) == 0] = IGNORE_INDEX
    return x, y


class TrainBatches:
    """`get(step, micro)` → (x, y), each (batch_size, block_size) int64 on `device`."""

    def __init__(self, split: Split, *, block_size: int, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, doc_aligned: bool = False, eot_id: int | None = None,
                 device: torch.device | str = "cpu"):
        self.split, self.block_size, self.batch_size = split, block_size, batch_size
        self.seed, self.rank, self.world_size, self.device = seed, rank, world_size, torch.device(device)
        if doc_aligned:
            # Every document start (0 and each position after an end-of-text) with a full window after it.
            starts = []
            for i, (ids, _) in enumerate(split.shards):
                limit = len(ids) - block_size - 1
                after_eot = np.flatnonzero(np.asarray(ids[:max(limit, 0)]) == eot_id) + 1
                pos = np.concatenate([[0], after_eot]) if limit >= 0 else np.empty(0, np.int64)
                starts.append(np.stack([np.full(len(pos), i), pos], axis=1))
            self.starts = np.concatenate(starts).astype(np.int64)  # (N, 2): shard, offset
            self.total = len(self.starts)
        else:
            counts = np.array([max(len(ids) - block_size, 0) for ids, _ in split.shards], dtype=np.int64)
            self.cumulative = np.cumsum(counts)
            self.total = int(self.cumulative[-1])
            self.starts = None
        if self.total == 0:
            raise ChannelError(f"split {split.name!r} has no shard with block_size + 1 = {block_size + 1} "
                               "tokens; use a smaller --block-size or more data")

    def positions(self, step: int, micro: int) -> list[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, step, micro])
        picks = rng.integers(0, self.total, size=self.batch_size * self.world_size)
        mine = picks[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        if self.starts is not None:
            return [(int(s), int(o)) for s, o in self.starts[mine]]
        shards = np.searchsorted(self.cumulative, mine, side="right")
        before = np.concatenate([[0], self.cumulative])[shards]
        return [(int(s), int(p - b)) for s, p, b in zip(shards, mine, before)]

    def get(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [_window(self.split, s, o, self.block_size) for s, o in self.positions(step, micro)]
        x = torch.from_numpy(np.stack([r[0] for r in rows]))  # (B, T)
        y = torch.from_numpy(np.stack([r[1] for r in rows]))  # (B, T)
        if self.device.type == "cuda":
            return x.pin_memory().to(self.device, non_blocking=True), y.pin_memory().to(self.device, non_blocking=True)
        return x, y


def validation_batches(split: Split, *, block_size: int, batch_size: int, max_batches: int, rank: int = 0,
                       world_size: int = 1, device: torch.device | str = "cpu") -> list:
    """This rank's share of the first `max_batches × batch_size × world_size` non-overlapping windows.

    Built eagerly, so a split that cannot be validated on fails when the job starts, not hours in. A
    split too short for one full window (a small corpus's few held-out documents) is validated on
    shorter windows instead: one per shard, each its own batch.
    """
    wanted = max_batches * batch_size * world_size
    windows = [(i, start, block_size) for i, (ids, _) in enumerate(split.shards)
               for start in range(0, len(ids) - block_size, block_size)][:wanted]
    per_batch = batch_size
    if len(windows) < world_size:
        windows = [(i, 0, min(len(ids) - 1, block_size)) for i, (ids, _) in enumerate(split.shards)
                   if len(ids) >= 2][:wanted]
        per_batch = 1
    # Every rank must run the same number of forward passes (FSDP gathers weights collectively).
    windows = windows[:len(windows) - len(windows) % world_size]
    if not windows:
        raise ChannelError(f"validation split {split.name!r} is too short to validate on "
                           f"({split.tokens} tokens for {world_size} rank(s))")
    mine = windows[rank::world_size]
    batches = []
    for k in range(0, len(mine), per_batch):
        rows = [_window(split, s, o, length) for s, o, length in mine[k:k + per_batch]]
        x = torch.from_numpy(np.stack([r[0] for r in rows])).to(device)  # (B, T)
        y = torch.from_numpy(np.stack([r[1] for r in rows])).to(device)
        batches.append((x, y))
    return batches
