"""Preference channels: the folder of pairs the preference-tuning job reads (a SageMaker channel as it is).

    manifest.json        {"version", "pairs": {"train": n, "heldout": n}, ...} (optional; names the data)
    train.jsonl          one pair a line: {"prompt", "chosen", "rejected", ...correlation columns}
    heldout.jsonl
    *.parquet            the same columns, as the lake stores them (a `split` column says which rows are which)

Rows may carry a `split` column; files named `heldout*` are held out whatever their rows say. A row
without a usable prompt, chosen and rejected is dropped and counted under its reason, never fatal. The
channel's data version is the manifest's `version`, or else a hash of the files' bytes.

This module knows files and pandas, nothing of tokenizers, S3 or training.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from flywheel.feedback.preferences import PreferenceSet, to_jsonl

MANIFEST = "manifest.json"
PAIR_FIELDS = ("prompt", "chosen", "rejected")


class PreferenceChannelError(ValueError):
    """A channel folder that is missing, or holds no file of pairs at all."""


@dataclass
class PairChannel:
    train: list[dict]
    heldout: list[dict]
    version: str
    dropped: Counter = field(default_factory=Counter)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json", ".parquet")
                  and p.name != MANIFEST)


def _rows(path: Path, dropped: Counter) -> list[dict]:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_dict("records")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped["channel.malformed_json"] += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            dropped["channel.not_an_object"] += 1
    return rows


def _usable(row: dict) -> bool:
    return all(row.get(k) is not None and (not isinstance(row.get(k), float)) for k in PAIR_FIELDS)


def read_pairs(directory: str | Path, *, require: bool = True) -> PairChannel:
    """Every pair in the folder, split into train and held-out rows."""
    directory = Path(directory)
    if not directory.is_dir():
        if require:
            raise PreferenceChannelError(f"preference channel {directory} does not exist")
        return PairChannel([], [], "none")
    files = _files(directory)
    if not files and require:
        raise PreferenceChannelError(f"preference channel {directory} holds no .jsonl or .parquet files")
    dropped: Counter = Counter()
    train, heldout = [], []
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
        for row in _rows(path, dropped):
            if not _usable(row):
                dropped["channel.missing_prompt_chosen_or_rejected"] += 1
                continue
            held = path.name.startswith("heldout") or row.get("split") == "heldout"
            (heldout if held else train).append(row)
    version = f"pairs-{digest.hexdigest()[:12]}"
    manifest = directory / MANIFEST
    if manifest.is_file():
        version = str(json.loads(manifest.read_text()).get("version") or version)
    return PairChannel(train, heldout, version, dropped)


def write_pair_channel(directory: str | Path, prefs: PreferenceSet) -> dict:
    """`train.jsonl`, `heldout.jsonl` and `manifest.json` from a built preference set; returns the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    columns = [c for c in prefs.pairs.columns if c != "split"]
    for split in ("train", "heldout"):
        to_jsonl(prefs.split("pairs", split), directory / f"{split}.jsonl", columns)
    manifest = prefs.manifest()
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
