"""Preference pairs as token tensors: the one encoding DPO, the reward model and the evaluation share.

A pair (prompt, chosen, rejected) in TRL's shapes — the prompt a message list or a plain string, each
answer a one-message assistant list or a string — becomes two sequences rendered with the chat template:

    <|user|> question <|end|> <|assistant|> answer <|end|>
    \\______ prompt_ids (no loss) _____________/ \\ response (loss) /

Sequences longer than `max_len` are cut so both answers keep the same prompt tail: answers first
lose their end (down to `max_len // 2` tokens when the prompt needs the room), then the prompt loses its
start. A `PairBatch` holds the 2B sequences (B chosen rows, then B rejected rows), right-padded:

    tokens   (2B, T)   the full sequences, pad id after each one's end
    inputs   (2B, T-1) tokens[:, :-1], what the language model reads
    targets  (2B, T-1) tokens[:, 1:] with IGNORE_INDEX on prompt and padding: GPT.sequence_logprobs sums these
    last     (2B,)     index of each sequence's last real token: where the reward model reads its score

This module knows the tokenizer and torch, nothing of files or training loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from flywheel.model.gpt import IGNORE_INDEX
from flywheel.model.tokenizer import ChatTokenizer


class PairEncodingError(ValueError):
    """A pair whose fields are not a prompt and two answers in a shape this module reads."""


def prompt_messages(prompt) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, dict) for m in prompt):
        return [{"role": m.get("role"), "content": m.get("content")} for m in prompt]
    raise PairEncodingError("prompt must be a non-empty string or a list of {role, content} messages")


def answer_text(answer) -> str:
    if isinstance(answer, str):
        return answer
    if isinstance(answer, (list, tuple)) and len(answer) == 1 and isinstance(answer[0], dict) \
            and answer[0].get("role") == "assistant" and isinstance(answer[0].get("content"), str):
        return answer[0]["content"]
    raise PairEncodingError("an answer must be a string or one assistant message [{role, content}]")


@dataclass(frozen=True)
class EncodedPair:
    prompt: list[int]
    chosen: list[int]  # answer ids, closing <|end|> included
    rejected: list[int]
    truncated: bool


def encode_pair(tokenizer: ChatTokenizer, prompt, chosen, rejected, max_len: int) -> EncodedPair:
    """Token ids of one pair, cut to at most `max_len` tokens per sequence (see the module docstring)."""
    try:
        p, _ = tokenizer.encode_chat(prompt_messages(prompt), add_generation_prompt=True)
    except ValueError as exc:
        raise PairEncodingError(f"bad prompt: {exc}") from None
    c = tokenizer.encode(answer_text(chosen)) + [tokenizer.end_id]
    r = tokenizer.encode(answer_text(rejected)) + [tokenizer.end_id]
    answer_budget = max_len - min(len(p), max_len // 2)
    c2, r2 = c[:answer_budget], r[:answer_budget]
    p2 = p[-(max_len - max(len(c2), len(r2))):]
    return EncodedPair(p2, c2, r2, truncated=(p2, c2, r2) != (p, c, r))


def encode_completion(tokenizer: ChatTokenizer, prompt, completion, max_len: int) -> tuple[list[int], int]:
    """(ids, prompt length) of one prompt + answer, cut like a pair: for scoring a single answer."""
    e = encode_pair(tokenizer, prompt, completion, completion, max_len)
    return e.prompt + e.chosen, len(e.prompt)


@dataclass
class PairBatch:
    tokens: torch.Tensor  # (2B, T)
    inputs: torch.Tensor  # (2B, T-1)
    targets: torch.Tensor  # (2B, T-1)
    last: torch.Tensor  # (2B,)

    @property
    def n_pairs(self) -> int:
        return self.tokens.shape[0] // 2

    def to(self, device) -> PairBatch:
        return PairBatch(*(t.to(device) for t in (self.tokens, self.inputs, self.targets, self.last)))


def collate_sequences(sequences: Sequence[tuple[list[int], int]], pad_id: int) -> PairBatch:
    """Right-pad (ids, prompt_len) sequences into tensors; the loss covers ids after the prompt."""
    T = max(len(ids) for ids, _ in sequences)
    if T < 2:
        raise PairEncodingError("every sequence needs at least two tokens")
    tokens = torch.full((len(sequences), T), pad_id, dtype=torch.long)
    labels = torch.full((len(sequences), T), IGNORE_INDEX, dtype=torch.long)
    last = torch.empty(len(sequences), dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(sequences):
        tokens[row, :len(ids)] = torch.tensor(ids)
        labels[row, prompt_len:len(ids)] = torch.tensor(ids[prompt_len:], dtype=torch.long)
        last[row] = len(ids) - 1
    return PairBatch(tokens, tokens[:, :-1], labels[:, 1:], last)


def collate_pairs(pairs: Sequence[EncodedPair], pad_id: int) -> PairBatch:
    """B pairs → a batch of 2B rows: the B chosen sequences, then the B rejected ones."""
    rows = [(e.prompt + e.chosen, len(e.prompt)) for e in pairs]
    rows += [(e.prompt + e.rejected, len(e.prompt)) for e in pairs]
    return collate_sequences(rows, pad_id)
