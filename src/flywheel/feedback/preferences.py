"""Preference building: logged interactions + user feedback → the datasets preference tuning reads.

Input, two tables as the API logs them to the lake (one row per record, any extra columns ignored):

    interactions  completion_id, request_id, messages (or prompt), choices (texts), model_version, ...
    feedback      completion_id, exactly one of thumbs ("up"/"down") | rating (1-5) |
                  preferred_choice (index among n >= 2 choices) | correction (text);
                  optional feedback_id (dedup key) and choice_index (which choice thumbs/rating/
                  correction is about; 0 when absent)

Output, in TRL's conversational formats (a prompt is a list of {role, content} messages):

    pairs     prompt, chosen, rejected (each a one-message assistant list) + correlation columns
              (pair_id, prompt_hash, source, chosen/rejected completion ids, request_id, model_version)
    unpaired  prompt, completion, label (True = thumbs up): KTO-style data from thumbs
    sft       messages (prompt + the user's corrected answer)

Pairs come from a preferred choice among n >= 2 choices (n - 1 pairs), from a correction (the
correction over the original answer), and from answers to the same prompt whose ratings or thumbs
differ. Every row carries `split` ("train" or "heldout"), decided by a hash of the prompt so one
prompt never lands in both. Every record or candidate dropped is counted under a reason
(`feedback.unknown_completion_id`, `feedback.invalid_choice_index`, `pairs.duplicate`, ...).
The dataset version is a hash of its content: the same inputs always give the same version.

This module is pure pandas: it knows nothing of S3, Glue or tokenizers. `flywheel.feedback.lake`
reads the inputs from the lake and writes the outputs back.

    prefs = build_preferences(interactions_df, feedback_df, heldout_fraction=0.1)
    prefs.pairs, prefs.unpaired, prefs.sft, prefs.dropped, prefs.version, prefs.manifest()
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

THUMBS = ("up", "down")
RATING_RANGE = (1, 5)
SIGNALS = ("thumbs", "rating", "preferred_choice", "correction")
# When the same (prompt, chosen, rejected) arises twice, the more direct signal's row is kept.
SOURCE_PRIORITY = {"preferred_choice": 0, "correction": 1, "rating": 2, "thumbs": 3}
PAIR_COLUMNS = ["pair_id", "prompt", "chosen", "rejected", "prompt_hash", "source", "chosen_completion_id",
                "rejected_completion_id", "request_id", "model_version", "split"]
UNPAIRED_COLUMNS = ["example_id", "prompt", "completion", "label", "prompt_hash", "completion_id",
                    "request_id", "model_version", "split"]
SFT_COLUMNS = ["example_id", "messages", "prompt_hash", "completion_id", "request_id", "model_version",
               "split"]


class PreferenceDataError(ValueError):
    """Input tables that cannot be read at all (a missing key column); bad rows are dropped, not raised."""


@dataclass(frozen=True)
class Interaction:
    completion_id: str
    request_id: str | None
    prompt: list[dict]  # [{role, content}], what the model was asked
    choices: list[str]  # the n answers' texts
    model_version: str | None
    prompt_hash: str


@dataclass
class PreferenceSet:
    """The built datasets, the reasons anything was dropped, and the content-derived version."""

    pairs: pd.DataFrame
    unpaired: pd.DataFrame
    sft: pd.DataFrame
    dropped: Counter = field(default_factory=Counter)
    version: str = ""
    inputs: dict = field(default_factory=dict)  # counts of the records read

    def split(self, kind: str, split: str) -> pd.DataFrame:
        df = getattr(self, kind)
        return df[df["split"] == split].reset_index(drop=True)

    def manifest(self) -> dict:
        def counts(df: pd.DataFrame) -> dict:
            return {s: int((df["split"] == s).sum()) for s in ("train", "heldout")}

        return {
            "dataset": "preferences",
            "version": self.version,
            "inputs": dict(self.inputs),
            "pairs": counts(self.pairs),
            "pair_sources": {k: int(v) for k, v in self.pairs["source"].value_counts().sort_index().items()},
            "unpaired": counts(self.unpaired),
            "sft": counts(self.sft),
            "dropped": dict(sorted(self.dropped.items())),
        }


def prompt_hash(messages: list[dict]) -> str:
    """A stable id for a prompt: sha256 of its messages as canonical JSON."""
    canon = json.dumps([{"role": m["role"], "content": m["content"]} for m in messages],
                       sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def split_of(p_hash: str, heldout_fraction: float, salt: str = "") -> str:
    """"heldout" for a `heldout_fraction` of prompts chosen by hash, "train" for the rest; deterministic."""
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    bucket = int(hashlib.sha256(f"{salt}:{p_hash}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000  # [0, 1)
    return "heldout" if bucket < heldout_fraction else "train"


def _absent(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def _as_list(value: Any) -> list | None:
    if isinstance(value, str):  # a JSON-encoded column (some writers flatten nested fields)
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, np.ndarray):  # Parquet list columns come back as arrays
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else None


def _parse_prompt(row: dict) -> list[dict] | None:
    messages = _as_list(row.get("messages")) if not _absent(row.get("messages")) else None
    if messages is None:
        prompt = row.get("prompt")
        if isinstance(prompt, str) and prompt:
            return [{"role": "user", "content": prompt}]
        return None
    out = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                or not isinstance(m.get("content"), str):
            return None
        out.append({"role": m["role"], "content": m["content"]})
    return out or None


def _parse_choices(value: Any) -> list[str] | None:
    items = _as_list(value) if not _absent(value) else None
    if not items:
        return None
    texts = []
    for c in items:
        if isinstance(c, str):
            texts.append(c)
        elif isinstance(c, dict):  # {"text": ...} or the OpenAI shape {"message": {"content": ...}}
            text = c.get("text", (c.get("message") or {}).get("content"))
            if not isinstance(text, str):
                return None
            texts.append(text)
        else:
            return None
    return texts


def _as_int(value: Any) -> int | None:
    """An integer from an int, an integral float (JSON/pandas upcasts) or a digit string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return None if _absent(value) else str(value)


def _records(df: pd.DataFrame | None, name: str) -> list[dict]:
    if df is None or len(df) == 0:
        return []
    if "completion_id" not in df.columns:
        raise PreferenceDataError(f"the {name} table has no completion_id column")
    return df.to_dict("records")


def index_interactions(interactions: pd.DataFrame, dropped: Counter) -> dict[str, Interaction]:
    """completion_id → Interaction, dropping (and counting) rows that cannot be used."""
    out: dict[str, Interaction] = {}
    for row in _records(interactions, "interactions"):
        cid = row.get("completion_id")
        if _absent(cid) or not str(cid):
            dropped["interactions.missing_completion_id"] += 1
            continue
        cid = str(cid)
        if cid in out:
            dropped["interactions.duplicate_completion_id"] += 1  # at-least-once delivery: keep the first
            continue
        prompt = _parse_prompt(row)
        if prompt is None:
            dropped["interactions.bad_messages"] += 1
            continue
        choices = _parse_choices(row.get("choices"))
        if choices is None:
            dropped["interactions.bad_choices"] += 1
            continue
        out[cid] = Interaction(cid, _str_or_none(row.get("request_id")), prompt, choices,
                               _str_or_none(row.get("model_version")), prompt_hash(prompt))
    return out


@dataclass(frozen=True)
class _Signal:
    interaction: Interaction
    kind: str  # one of SIGNALS
    value: Any  # "up"/"down", 1..5, the preferred index, the correction text
    choice: int  # the choice the signal is about (the preferred one for preferred_choice)


def _parse_feedback(row: dict, interactions: dict[str, Interaction], dropped: Counter) -> _Signal | None:
    cid = row.get("completion_id")
    if _absent(cid) or str(cid) not in interactions:
        dropped["feedback.unknown_completion_id"] += 1
        return None
    inter = interactions[str(cid)]
    present = [k for k in SIGNALS if not _absent(row.get(k))]
    if not present:
        dropped["feedback.no_signal"] += 1
        return None
    if len(present) > 1:
        dropped["feedback.multiple_signals"] += 1
        return None
    kind, value = present[0], row[present[0]]
    choice_raw = row.get("choice_index")
    choice = 0 if _absent(choice_raw) else _as_int(choice_raw)
    if kind == "preferred_choice":
        choice = _as_int(value)
        if len(inter.choices) < 2:
            dropped["feedback.preferred_choice_needs_two_choices"] += 1
            return None
    if choice is None or not 0 <= choice < len(inter.choices):
        dropped["feedback.invalid_choice_index"] += 1
        return None
    if kind == "thumbs":
        value = str(value).lower()
        if value not in THUMBS:
            dropped["feedback.invalid_thumbs"] += 1
            return None
    elif kind == "rating":
        value = _as_int(value)
        if value is None or not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
            dropped["feedback.invalid_rating"] += 1
            return None
    elif kind == "correction":
        if not isinstance(value, str) or not value.strip():
            dropped["feedback.empty_correction"] += 1
            return None
    else:
        value = choice
    return _Signal(inter, kind, value, choice)


def _dedup_key(row: dict) -> tuple:
    fid = row.get("feedback_id")
    if not _absent(fid):
        return ("id", str(fid))
    # No id: an exact repeat of the same judgement on the same completion is a redelivery or a double click.
    return ("content", str(row.get("completion_id")), str(row.get("choice_index")),
            *(json.dumps(row.get(k), default=str) for k in SIGNALS))


def _message(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def content_id(*parts: str) -> str:
    """A short stable id for a row: sha256 of its parts joined by a separator no text contains."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def build_preferences(interactions: pd.DataFrame, feedback: pd.DataFrame, *, heldout_fraction: float = 0.1,
                      salt: str = "", pairs_from_corrections: bool = True) -> PreferenceSet:
    """Join `feedback` to `interactions` by completion id and build pairs, unpaired labels and SFT rows."""
    dropped: Counter = Counter()
    index = index_interactions(interactions, dropped)

    signals: list[_Signal] = []
    seen: set[tuple] = set()
    for row in _records(feedback, "feedback"):
        key = _dedup_key(row)
        if key in seen:
            dropped["feedback.duplicate"] += 1
            continue
        seen.add(key)
        signal = _parse_feedback(row, index, dropped)
        if signal is not None:
            signals.append(signal)

    pairs: list[dict] = []
    unpaired: list[dict] = []
    sft: list[dict] = []
    # prompt_hash → answer text → judgements, for pairs across different answers to one prompt.
    ratings: dict[str, dict[str, list[tuple[int, Interaction]]]] = defaultdict(lambda: defaultdict(list))
    thumbs: dict[str, dict[str, list[tuple[int, Interaction]]]] = defaultdict(lambda: defaultdict(list))
    prompts: dict[str, list[dict]] = {}

    def add_pair(source, prompt_h, chosen, rejected, chosen_inter, rejected_inter):
        if chosen == rejected:
            dropped["pairs.identical_texts"] += 1
            return
        pairs.append({"pair_id": content_id(prompt_h, chosen, rejected), "prompt": prompts[prompt_h],
                      "chosen": chosen, "rejected": rejected, "prompt_hash": prompt_h, "source": source,
                      "chosen_completion_id": chosen_inter.completion_id,
                      "rejected_completion_id": rejected_inter.completion_id,
                      "request_id": chosen_inter.request_id, "model_version": chosen_inter.model_version})

    for s in signals:
        inter, p = s.interaction, s.interaction.prompt_hash
        prompts.setdefault(p, inter.prompt)
        answer = inter.choices[s.choice]
        if s.kind == "preferred_choice":
            for j, other in enumerate(inter.choices):
                if j != s.choice:
                    add_pair("preferred_choice", p, answer, other, inter, inter)
        elif s.kind == "thumbs":
            label = s.value == "up"
            unpaired.append({"example_id": content_id(p, answer, str(label)), "prompt": inter.prompt,
                             "completion": _message(answer), "label": label, "prompt_hash": p,
                             "completion_id": inter.completion_id, "request_id": inter.request_id,
                             "model_version": inter.model_version})
            thumbs[p][answer].append((1 if label else -1, inter))
        elif s.kind == "rating":
            ratings[p][answer].append((s.value, inter))
        else:  # correction
            sft.append({"example_id": content_id(p, s.value), "messages": inter.prompt + _message(s.value),
                        "prompt_hash": p, "completion_id": inter.completion_id,
                        "request_id": inter.request_id, "model_version": inter.model_version})
            if pairs_from_corrections:
                add_pair("correction", p, s.value, answer, inter, inter)

    # Different answers to one prompt: the higher mean rating (or net thumbs) is chosen; ties make no pair.
    for source, table, score in (("rating", ratings, lambda js: sum(v for v, _ in js) / len(js)),
                                 ("thumbs", thumbs, lambda js: sum(v for v, _ in js))):
        for p, answers in table.items():
            scored = sorted(((score(js), text, js[0][1]) for text, js in answers.items()),
                            key=lambda t: (-t[0], t[1]))
            if source == "thumbs":
                conflicted = sum(1 for sc, _, _ in scored if sc == 0)
                if conflicted:  # as many ups as downs: no verdict on that answer
                    dropped["thumbs.conflicting_answer"] += conflicted
            for (s_a, text_a, inter_a), (s_b, text_b, inter_b) in combinations(scored, 2):
                if source == "thumbs" and not (s_a > 0 > s_b):
                    continue  # thumbs pair only a liked answer with a disliked one
                if s_a > s_b:
                    add_pair(source, p, text_a, text_b, inter_a, inter_b)

    pairs_df = _finish_pairs(pairs, dropped)
    unpaired_df = _dedup(pd.DataFrame(unpaired, columns=UNPAIRED_COLUMNS[:-1]), "example_id", dropped,
                         "unpaired.duplicate")
    sft_df = _dedup(pd.DataFrame(sft, columns=SFT_COLUMNS[:-1]), "example_id", dropped, "sft.duplicate")
    for df in (pairs_df, unpaired_df, sft_df):
        df["split"] = pd.Series([split_of(h, heldout_fraction, salt) for h in df["prompt_hash"]],
                                index=df.index, dtype=object)
    pairs_df, unpaired_df, sft_df = (df.sort_values(["split", df.columns[0]], kind="stable")
                                     .reset_index(drop=True) for df in (pairs_df, unpaired_df, sft_df))
    version = "prefs-" + hashlib.sha256(json.dumps(
        [sorted(f"{i}:{s}" for i, s in zip(pairs_df["pair_id"], pairs_df["split"])),
         sorted(unpaired_df["example_id"]), sorted(sft_df["example_id"]), heldout_fraction, salt]).encode()).hexdigest()[:12]
    inputs = {"interactions": 0 if interactions is None else len(interactions),
              "feedback": 0 if feedback is None else len(feedback),
              "feedback_used": len(signals)}
    return PreferenceSet(pairs_df, unpaired_df, sft_df, dropped, version, inputs)


def _finish_pairs(pairs: list[dict], dropped: Counter) -> pd.DataFrame:
    df = pd.DataFrame(pairs, columns=PAIR_COLUMNS[:-1])
    if df.empty:
        return df
    df["_priority"] = df["source"].map(SOURCE_PRIORITY)
    df = df.sort_values(["_priority", "pair_id"], kind="stable")
    df = _dedup(df, "pair_id", dropped, "pairs.duplicate")
    # A pair and its reverse for the same prompt (A over B, and B over A): no consistent verdict, drop both.
    forward = set(zip(df["prompt_hash"], df["chosen"], df["rejected"]))
    contradictory = [(p, r, c) in forward for p, c, r in zip(df["prompt_hash"], df["chosen"], df["rejected"])]
    if any(contradictory):
        dropped["pairs.contradictory"] += int(sum(contradictory))
    df = df[~np.array(contradictory, dtype=bool)].drop(columns="_priority").reset_index(drop=True)
    # Texts until here (dedup and reversal compare strings); TRL's conversational shape from here on.
    df["chosen"], df["rejected"] = df["chosen"].map(_message), df["rejected"].map(_message)
    return df


def _dedup(df: pd.DataFrame, key: str, dropped: Counter, reason: str) -> pd.DataFrame:
    dup = df.duplicated(subset=key, keep="first")
    if dup.any():
        dropped[reason] += int(dup.sum())
    return df[~dup].reset_index(drop=True)


def to_jsonl(df: pd.DataFrame, path, columns: list[str] | None = None) -> int:
    """Write rows as JSON lines (the training channel format); returns the number of rows written."""
    rows = df[columns].to_dict("records") if columns else df.to_dict("records")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n" for row in rows)
    return len(rows)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
