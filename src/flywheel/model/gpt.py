"""The GPT: one decoder-only transformer, trained by `training_jobs/train.py` and served by the engine.

Single-device code on purpose: no DDP, FSDP, compile or I/O here. The training loop wraps the module;
the serving engine owns a `KVCache` and calls `forward` with slots and positions.

Two ways in:
- training / full forward: `model(idx, targets)`; causal attention via SDPA's `is_causal` fast path.
- incremental decoding: `model(idx, positions=pos, cache=cache, slots=slots)` appends the new tokens'
  keys and values to each row's slot in the cache and attends over everything cached for that row.
  Rows may be at different lengths, which is what continuous batching needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from flywheel.model.config import GPTConfig

IGNORE_INDEX = -100  # targets with this value carry no loss (prompt tokens in SFT, padding)


@dataclass
class KVCache:
    """Preallocated keys and values for `n_slots` sequences of up to `max_len` tokens each.

    `kv` is (2, n_layer, n_slots, n_head, max_len, head_dim): keys, then values, in one buffer (the
    lean decoder writes both of a layer with one flat index); `k` and `v` are its two halves. A
    sequence owns one slot; the engine decides which. The cache stores no lengths: callers pass each
    token's position.
    """

    kv: torch.Tensor

    @classmethod
    def allocate(cls, config: GPTConfig, n_slots: int, max_len: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> KVCache:
        max_len = max_len or config.block_size
        if max_len > config.block_size:
            raise ValueError(f"cache length {max_len} exceeds the model's block_size {config.block_size}")
        shape = (2, config.n_layer, n_slots, config.n_head, max_len, config.head_dim)
        return cls(torch.zeros(shape, device=device, dtype=dtype))

    @property
    def k(self) -> torch.Tensor:
        return self.kv[0]  # (n_layer, n_slots, n_head, max_len, head_dim)

    @property
    def v(self) -> torch.Tensor:
        return self.kv[1]

    @property
    def max_len(self) -> int:
        return self.kv.shape[4]

    @property
    def n_slots(self) -> int:
        return self.kv.shape[2]

    def copy_prefix(self, src_slot: int, dst_slot: int, length: int) -> None:
        """Reuse `length` cached positions of one slot in another (prefix caching)."""
        self.kv[:, :, dst_slot, :, :length] = self.kv[:, :, src_slot, :, :length]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, layer: int, positions: torch.Tensor | None,
                cache: KVCache | None, slots: torch.Tensor | slice | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        dropout = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        else:
            # Write the new keys/values at each row's positions in its slot: cache[l][slot, :, pos] = k
            ck, cv = cache.k[layer], cache.v[layer]  # (N, H, S, D)
            if isinstance(slots, slice):
                # A contiguous run of slots is a view: no gather copy of the whole cache per step,
                # which is what dominates a batched decode step on CPU.
                ck, cv = ck[slots], cv[slots]  # (B, H, S, D)
                rows = torch.arange(B, device=x.device)[:, None]
            else:
                rows = slots[:, None]  # (B, 1) broadcasts against positions (B, T)
            # The cache is inference state: no gradient flows through it (and its halves are views
            # of one buffer, which autograd would not let a grad-carrying write into).
            ck[rows, :, positions] = k.detach().transpose(1, 2).to(ck.dtype)  # (B, T, H, D)
            cv[rows, :, positions] = v.detach().transpose(1, 2).to(cv.dtype)
            span = int(positions.max()) + 1  # no row attends past the furthest position
            if isinstance(slots, slice):
                keys, values = ck[:, :, :span], cv[:, :, :span]  # (B, H, span, D), views
            else:
                keys, values = ck[slots, :, :span], cv[slots, :, :span]  # (B, H, span, D)
            # Query at position p sees keys 0..p of its own row; later slots hold stale data.
            mask = torch.arange(span, device=x.device)[None, None, :] <= positions[:, :, None]  # (B, T, span)
            y = F.scaled_dot_product_attention(q, keys.to(q.dtype), values.to(q.dtype),
                                               attn_mask=mask[:, None], dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GPT-2's "gelu_new" is the tanh approximation; matching it keeps the HF export exact.
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, layer, positions, cache, slots):
        x = x + self.attn(self.ln_1(x), layer, positions, cache, slots)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": nn.Embedding(config.block_size, config.n_embd),
            "drop": nn.Dropout(config.dropout),
            "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            "ln_f": nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias),
        })
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied embeddings
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections: std / sqrt(2 * n_layer).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def hidden_states(self, idx: torch.Tensor, positions: torch.Tensor | None = None,
                      cache: KVCache | None = None,
                      slots: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Final-norm hidden states (B, T, C); the reward model puts its scalar head on these.

        `slots` is a (B,) tensor of cache slots, or a `slice` of B consecutive slots (faster: the
        cache is then read as a view instead of gathered row by row).
        """
        T = idx.shape[1]
        if cache is not None:
            if positions is None or slots is None:
                raise ValueError("decoding with a cache needs positions (B, T) and slots (B,)")
            if int(positions.max()) >= cache.max_len:
                raise ValueError(f"position {int(positions.max())} is beyond the cache ({cache.max_len})")
        elif positions is None:
            if T > self.config.block_size:
                raise ValueError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
            positions = torch.arange(T, device=idx.device)[None, :]  # (1, T) broadcasts over B
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))  # (B, T, C)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, layer, positions if cache is not None else None, cache, slots)
        return self.transformer.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                positions: torch.Tensor | None = None, cache: KVCache | None = None,
                slots: torch.Tensor | slice | None = None):
        """Logits (B, T, V); with `targets` (B, T) also the mean cross-entropy over non-ignored targets."""
        h = self.hidden_states(idx, positions, cache, slots)
        logits = self.lm_head(h)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1),
                               ignore_index=IGNORE_INDEX)
        return logits, loss

    def sequence_logprobs(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sum of log p(target) over non-ignored positions, per row (B,): what DPO compares."""
        logits = self(idx).float()
        logp = torch.log_softmax(logits, dim=-1)
        mask = targets != IGNORE_INDEX
        picked = logp.gather(-1, targets.clamp_min(0)[..., None])[..., 0]  # (B, T)
        return (picked * mask).sum(dim=1)
