"""Token shard channels: the folder the data job writes and the training job reads.

A channel is one folder, usable as it is as a SageMaker channel (`SM_CHANNEL_TRAIN`):

    tokenizer.json          the `tokenizers` BPE every id below came from
    shards.json             {"format_version", "kind", "dtype", "vocab_size", "eot_id", "data_version",
                             "shard_tokens", "splits": {split: {"tokens", "documents", "shards":
                             [{"file", "tokens", "mask"?}]}}}
    train_000000.bin        raw little-endian token ids (uint16 when vocab_size <= 65536, else uint32)
    train_000000.mask.bin   kind "sft" only: one uint8 per token, 1 where the loss applies
    val_000000.bin          ...

Documents are written back to back, each followed by the tokenizer's end-of-text id; a shard holds
`shard_tokens` ids and a document may continue in the next shard. For kind "sft" a document is a chat
rendered by `ChatTokenizer.encode_chat` and its mask marks the assistant tokens (the trailing end-of-text
gets 0). `shards.json` is written last, atomically: a folder without it is an unfinished channel.

Writing (bounded memory: one shard buffer per split, flushed to disk as it fills):

    meta = write_channel(out_dir, tokenizer, {"train": train_docs, "val": val_docs},
                         kind="pretrain", data_version="corpus-2026-11-27")
    # docs: iterables of list[int] for "pretrain", of (ids, mask) pairs for "sft"

    with ChannelWriter(out_dir, tokenizer, kind="sft", data_version="v3") as writer:
        writer.add("train", ids, mask)          # one document at a time, any split, any order

Reading (memory-mapped, nothing loaded up front):

    channel = Channel.open(path)               # ChannelError naming the problem if it is not valid
    split = channel.split("train")             # Split: .tokens (int), .shards [(ids memmap, mask memmap | None)]
    channel.tokenizer()                        # ChatTokenizer from the channel's tokenizer.json

This module knows nothing of S3, cleaning or training: it only lays token ids out on disk and checks
that what it reads back is what was written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
META_FILE = "shards.json"
TOKENIZER_FILE = "tokenizer.json"
KINDS = ("pretrain", "sft")
DEFAULT_SHARD_TOKENS = 1 << 24  # 16 Mi tokens: 32 MiB of uint16 per shard file
MASK_DTYPE = np.uint8


class ChannelError(ValueError):
    """A channel folder that is missing, empty, unfinished or inconsistent with its shards.json."""


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned dtype that holds every id of a `vocab_size` vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class _SplitWriter:
    """Fills one shard buffer of a split and writes it out as `<split>_<n>.bin` when full."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype, shard_tokens: int, with_mask: bool):
        self.directory, self.name, self.dtype = directory, name, dtype
        self.buffer = np.empty(shard_tokens, dtype=dtype)
        self.mask = np.empty(shard_tokens, dtype=MASK_DTYPE) if with_mask else None
        self.filled = 0
        self.shards: list[dict] = []
        self.tokens = 0
        self.documents = 0

    def append(self, ids: np.ndarray, mask: np.ndarray | None) -> None:
        start = 0
        while start < len(ids):
            room = len(self.buffer) - self.filled
            n = min(room, len(ids) - start)
            self.buffer[self.filled:self.filled + n] = ids[start:start + n]
            if self.mask is not None:
                self.mask[self.filled:self.filled + n] = mask[start:start + n]
            self.filled += n
            start += n
            if self.filled == len(self.buffer):
                self.flush()
        self.tokens += len(ids)
        self.documents += 1

    def flush(self) -> None:
        if not self.filled:
            return
        stem = f"{self.name}_{len(self.shards):06d}"
        entry = {"file": f"{stem}.bin", "tokens": self.filled}
        _atomic_bytes(self.directory / entry["file"], self.buffer[:self.filled].astype("<" + self.dtype.str[1:]))
        if self.mask is not None:
            entry["mask"] = f"{stem}.mask.bin"
            _atomic_bytes(self.directory / entry["mask"], self.mask[:self.filled])
        self.shards.append(entry)
        self.filled = 0


class ChannelWriter:
    """Streams documents into a channel folder; `close()` (or leaving the `with`) writes shards.json."""

    def __init__(self, directory: str | Path, tokenizer, *, kind: str = "pretrain", data_version: str,
                 shard_tokens: int = DEFAULT_SHARD_TOKENS, extra: Mapping | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not isinstance(data_version, str) or not data_version:
            raise ValueError("data_version must be a non-empty string naming the data this channel holds")
        if not isinstance(shard_tokens, int) or shard_tokens < 1:
            raise ValueError(f"shard_tokens must be a positive integer, got {shard_tokens!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        if (self.directory / META_FILE).exists():
            raise ChannelError(f"{self.directory} already holds a channel ({META_FILE}); write to a new folder")
        self.tokenizer, self.kind, self.data_version = tokenizer, kind, data_version
        self.vocab_size = tokenizer.vocab_size
        self.eot_id = tokenizer.eot_id
        self.dtype = token_dtype(self.vocab_size)
        self.shard_tokens = shard_tokens
        self.extra = dict(extra or {})
        self.splits: dict[str, _SplitWriter] = {}
        self.skipped_empty = 0
        self.closed = False

    def add(self, split: str, ids, mask=None) -> bool:
        """Append one document to `split`; returns False (and counts it) for an empty document."""
        if self.closed:
            raise ValueError("channel writer is closed")
        if not split or not split.replace("_", "").isalnum():
            raise ValueError(f"split name {split!r} must be alphanumeric (it becomes a file name)")
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1:
            raise ValueError(f"a document is a flat list of token ids, got shape {ids.shape}")
        if self.kind == "sft":
            if mask is None:
                raise ValueError("an sft channel needs a loss mask with every document")
            mask = np.asarray(mask, dtype=np.int64)
            if mask.shape != ids.shape:
                raise ValueError(f"mask has {mask.size} entries for {ids.size} tokens")
            if mask.size and (mask.min() < 0 or mask.max() > 1):
                raise ValueError("mask entries must be 0 or 1")
        elif mask is not None:
            raise ValueError("a pretrain channel takes no loss mask; use kind='sft'")
        if ids.size == 0:
            self.skipped_empty += 1
            return False
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if bad.size:
            raise ValueError(f"token id {int(bad[0])} in a {split!r} document is outside the tokenizer's "
                             f"vocabulary of {self.vocab_size}")
        ids = np.append(ids, self.eot_id)
        if mask is not None:
            mask = np.append(mask, 0)
        if split not in self.splits:
            self.splits[split] = _SplitWriter(self.directory, split, self.dtype, self.shard_tokens,
                                              with_mask=self.kind == "sft")
        self.splits[split].append(ids, mask)
        return True

    def close(self) -> dict:
        """Flush the last shards, then write tokenizer.json and shards.json; returns the metadata."""
        if self.closed:
            return self.meta
        for writer in self.splits.values():
            writer.flush()
        self.tokenizer.save(self.directory / TOKENIZER_FILE)
        self.meta = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "dtype": self.dtype.name,
            "vocab_size": self.vocab_size,
            "eot_id": self.eot_id,
            "data_version": self.data_version,
            "shard_tokens": self.shard_tokens,
            "skipped_empty_documents": self.skipped_empty,
            "splits": {name: {"tokens": w.tokens, "documents": w.documents, "shards": w.shards}
                       for name, w in sorted(self.splits.items())},
            **self.extra,
        }
        _atomic_bytes(self.directory / META_FILE, json.dumps(self.meta, indent=2, sort_keys=True).encode())
        self.closed = True
        return self.meta

    def __enter__(self) -> ChannelWriter:  # noqa: PYI034
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()  # on an error shards.json is not written, so the folder never reads as a channel


def write_channel(directory: str | Path, tokenizer, docs_by_split: Mapping[str, Iterable], *,
                  kind: str = "pretrain", data_version: str, shard_tokens: int = DEFAULT_SHARD_TOKENS,
                  extra: Mapping | None = None) -> dict:
    """Write every split's documents (lists of ids, or (ids, mask) pairs for "sft"); returns shards.json."""
    with ChannelWriter(directory, tokenizer, kind=kind, data_version=data_version,
                       shard_tokens=shard_tokens, extra=extra) as writer:
        for split, docs in docs_by_split.items():
            for doc in docs:
                if kind == "sft":
                    ids, mask = doc
                    writer.add(split, ids, mask)
                else:
                    writer.add(split, doc)
    return writer.meta


@dataclass
class Split:
    """One split of a channel: its memory-mapped shards, in order."""

    name: str
    tokens: int
    documents: int
    shards: list[tuple[np.ndarray, np.ndarray | None]] = field(repr=False)


@dataclass
class Channel:
    """An opened channel; shards are memory-mapped on first use of a split."""

    directory: Path
    meta: dict

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def data_version(self) -> str:
        return self.meta["data_version"]

    @property
    def vocab_size(self) -> int:
        return self.meta["vocab_size"]

    @property
    def eot_id(self) -> int:
        return self.meta["eot_id"]

    @property
    def split_names(self) -> list[str]:
        return sorted(self.meta["splits"])

    @classmethod
    def open(cls, directory: str | Path) -> Channel:
        directory = Path(directory)
        if not directory.is_dir():
            raise ChannelError(f"channel folder {directory} does not exist")
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            if not any(directory.iterdir()):
                raise ChannelError(f"channel folder {directory} is empty (no {META_FILE}, no shards)")
            raise ChannelError(f"{directory} has no {META_FILE}: not a finished shard channel "
                               "(write it with flywheel.data.shards.write_channel)")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ChannelError(f"{meta_path} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise ChannelError(f"{meta_path} is not a JSON object")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ChannelError(f"{meta_path} has format_version {meta.get('format_version')!r}; "
                               f"this code reads {FORMAT_VERSION}")
        for key in ("kind", "dtype", "vocab_size", "eot_id", "data_version", "splits"):
            if key not in meta:
                raise ChannelError(f"{meta_path} lacks {key!r}")
        if meta["kind"] not in KINDS:
            raise ChannelError(f"{meta_path} has kind {meta['kind']!r}; expected one of {KINDS}")
        if meta["dtype"] != token_dtype(meta["vocab_size"]).name:
            raise ChannelError(f"{meta_path}: dtype {meta['dtype']!r} does not fit vocab_size {meta['vocab_size']}")
        if not isinstance(meta["splits"], dict) or not meta["splits"]:
            raise ChannelError(f"channel {directory} holds no splits (no documents were written)")
        if not (directory / TOKENIZER_FILE).is_file():
            raise ChannelError(f"channel {directory} lacks {TOKENIZER_FILE}")
        channel = cls(directory, meta)
        for name in meta["splits"]:
            channel._check_files(name)
        return channel

    def _check_files(self, name: str) -> None:
        info = self.meta["splits"][name]
        itemsize = np.dtype(self.meta["dtype"]).itemsize
        total = 0
        for entry in info.get("shards", []):
            expected = [(entry["file"], entry["tokens"] * itemsize)]
            if self.kind == "sft":
                if "mask" not in entry:
                    raise ChannelError(f"sft channel {self.directory}: shard {entry['file']} has no mask file")
                expected.append((entry["mask"], entry["tokens"]))
            for file, size in expected:
                path = self.directory / file
                if not path.is_file():
                    raise ChannelError(f"channel {self.directory}: shard file {file} is missing")
                actual = path.stat().st_size
                if actual != size:
                    raise ChannelError(f"channel {self.directory}: {file} has {actual} bytes but {META_FILE} "
                                       f"records {entry['tokens']} tokens ({size} bytes); the shard is "
                                       "truncated or from another channel")
            total += entry["tokens"]
        if total != info.get("tokens"):
            raise ChannelError(f"channel {self.directory}: split {name!r} records {info.get('tokens')} tokens "
                               f"but its shards hold {total}")

    def split(self, name: str) -> Split:
        if name not in self.meta["splits"]:
            raise ChannelError(f"channel {self.directory} has no split {name!r}; it has {self.split_names}")
        info = self.meta["splits"][name]
        if not info["tokens"]:
            raise ChannelError(f"split {name!r} of channel {self.directory} is empty")
        dtype = np.dtype(self.meta["dtype"]).newbyteorder("<")
        shards = []
        for entry in info["shards"]:
            ids = np.memmap(self.directory / entry["file"], dtype=dtype, mode="r")
            mask = (np.memmap(self.directory / entry["mask"], dtype=MASK_DTYPE, mode="r")
                    if self.kind == "sft" else None)
            shards.append((ids, mask))
        return Split(name, info["tokens"], info.get("documents", 0), shards)

    def tokenizer(self):
        from flywheel.model.tokenizer import ChatTokenizer  # the model extra; readers of ids alone skip it

        return ChatTokenizer.from_file(self.directory / TOKENIZER_FILE)

    def tokenizer_text(self) -> str:
        return (self.directory / TOKENIZER_FILE).read_text()


def _atomic_bytes(path: Path, data) -> None:
    """Write `data` (bytes or a numpy array) to a temporary beside `path`, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, np.ndarray):
                data.tofile(f)
            else:
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
