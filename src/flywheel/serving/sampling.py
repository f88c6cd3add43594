"""Next-token choice for a batch of rows: greedy rows in one argmax, sampled rows together in one pass.

A sampled row draws its one uniform number from its own `torch.Generator`, seeded from the request's
`seed` (and the choice's index), so a seeded request gives the same text whatever else shares its
batch. Everything else (temperature, top-k, nucleus top-p, the draw by inverse CDF) runs once for all
sampled rows as (B, V) tensor ops: per-row Python would cost a dozen dispatches a row a step.
Knows no HTTP.
"""

from __future__ import annotations

import torch


def sample_rows(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                uniform: torch.Tensor) -> torch.Tensor:
    """Token ids (B,) drawn from `logits` (B, V) float32, each row with its own settings.

    `temperature` (B,) > 0; `top_k` (B,) int, 0 = no limit; `top_p` (B,), 1 = no limit; `uniform` (B,)
    in [0, 1): the row's random draw. Ties at the k-th value stay in, as do tokens whose preceding
    mass is still below top_p (the most likely token always stays).
    """
    V = logits.shape[1]
    ordered, order = torch.sort(logits / temperature[:, None], dim=-1, descending=True)  # (B, V)
    k = torch.where((top_k > 0) & (top_k < V), top_k, V)
    kth = ordered.gather(1, (k - 1)[:, None])  # (B, 1): the k-th largest scaled logit
    ordered = ordered.masked_fill(ordered < kth, float("-inf"))
    probs = torch.softmax(ordered, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # mass of the more likely tokens
    limit = torch.where(top_p < 1.0, top_p, float("inf"))[:, None]
    probs = probs.masked_fill(before >= limit, 0.0)
    cdf = torch.cumsum(probs, dim=-1)
    # Inverse CDF: the first token whose cumulative mass exceeds u * (kept mass); no renormalising.
    pick = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True).clamp_(max=V - 1)
    return order.gather(1, pick)[:, 0]


def next_tokens(logits: torch.Tensor, samplers: list) -> list[int]:
    """Tokens for logits (B, V): row i is greedy when samplers[i] is None, else sampled by it.

    A sampler is any object with `temperature`, `top_k`, `top_p` and `generator`.
    """
    tokens = logits.argmax(dim=-1).tolist()
    rows = [i for i, s in enumerate(samplers) if s is not None]
    if not rows:
        return tokens
    chosen = [samplers[i] for i in rows]
    uniform = torch.cat([torch.rand(1, generator=s.generator) for s in chosen])
    picked = sample_rows(
        (logits if len(rows) == len(samplers) else logits[rows]).float(),
        torch.tensor([s.temperature for s in chosen], dtype=torch.float32),
        torch.tensor([s.top_k for s in chosen], dtype=torch.long),
        torch.tensor([s.top_p for s in chosen], dtype=torch.float32),
        uniform,
    ).tolist()
    for i, t in zip(rows, picked):
        tokens[i] = t
    return tokens
