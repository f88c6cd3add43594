"""Next-token choice for a batch of rows: greedy rows in one argmax, sampled rows each with its own seed.

A sampled row draws from its own `torch.Generator`, seeded from the request's `seed` (and the choice's
index), so a seeded request gives the same text whatever else shares its batch. Knows no HTTP.
"""

from __future__ import annotations

import torch


def sample_row(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
               generator: torch.Generator) -> int:
    """One token from `logits` (V,) float32 with temperature, top-k and nucleus (top-p) filtering."""
    logits = logits / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Drop a token when the mass before it already reaches top_p; the first token always stays.
        drop = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def next_tokens(logits: torch.Tensor, samplers: list) -> list[int]:
    """Tokens for logits (B, V): row i is greedy when samplers[i] is None, else sampled by it.

    A sampler is any object with `temperature`, `top_k`, `top_p` and `generator`.
    """
    tokens = logits.argmax(dim=-1).tolist()
    for i, s in enumerate(samplers):
        if s is not None:
            tokens[i] = sample_row(logits[i].float(), s.temperature, s.top_k, s.top_p, s.generator)
    return tokens
