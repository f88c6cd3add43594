"""A lean, inference-only decode step for a GPT: one new token per row over a `KVCache`.

Serving decodes one token per running sequence per step, so at the sizes this project serves the step
costs far more in per-call Python (module `__call__`, index tensors, `.float()` copies, dispatcher
round trips) than in arithmetic. `Decoder` reads the GPT's weights once into flat per-layer tuples
(the attention's fused QKV matrix as it is) and runs the step as a straight line of tensor calls:
no `nn.Module` calls, index tensors built once per step rather than once per layer, the pad logit
masked through the output layer's bias, and keys and values written with one flat index per step.

Attention. A one-token step over a float32 or float16 cache on the CPU (float16: the quantized
precisions' keys and values, serving.runner.cache_dtype) goes through flywheel's compiled kernel
(`flywheel.model.kernels`, csrc/decode_attention.cpp), which writes the step's keys and values into
the cache and attends: each row reads its own positions only, straight from the cache, with no mask,
no transposes and no separate write. torch's SDPA on the same step reads every row up to the longest
row's span through an additive mask, and at 32 rows its blocked kernel was the step's largest cost.
Bench preset, 2 cores, fp16, rows at positions 160-199, alternate runs: a 32-row step took 4.1-4.2
ms through the kernel against 5.6-5.7 through SDPA, 1.40-1.51 against 1.62-1.81 at 8 rows, 0.64-0.66
against 0.71 at 1; writing the keys and values inside the kernel then took those to 3.55, 1.08-1.12
and 0.50 ms. A shared prefix (the system policy the engine copies into every chat request's slot)
is read from its one copy in the prefix slot instead of each row's: 32 rows sharing 56 positions,
3.49-3.71 against 3.81-4.39 ms a step. Prefill (many tokens), CUDA, bf16 caches and machines where
the kernel cannot be built use SDPA, with the keys and values written by one flat index per step
(rounded to a float16 cache's type, as the kernel rounds them, and widened again for SDPA layer by
layer) and one mask per step shared by every layer; a matmul-softmax-matmul in Python was no faster than
SDPA (bench preset, 32 streams). (How many threads a step runs on is the serving runner's choice:
narrow steps one, wide ones timed.)

Linear layers. Each layer runs as its module does (`Int8Linear.call`, `Fp16Linear.call`): int8 and
fp16-weight layers through flywheel's compiled kernels where they are built, at every row count, in
the step and in `GPT.forward` alike. The compiled fp16 Linear (csrc/fp16_linear.cpp) reads the
weights once at one row where fbgemm's float16 kernel, made for wide products, spent about three
times as long (a 256 x 768 matrix, one row, one thread: 8 against 23 us).

It does not change the GPT: training and `GPT.forward` (prefill, loss, the reward model) are
untouched, and `decode` / `prefill` compute what `GPT.forward` does for a (B, 1) input with
`slots=slice(0, B)` / one prompt in one slot (tests/model/test_decode.py compares them). It works
for fp32 and bf16 models and for models whose Linear layers `flywheel.model.quant` turned into int8
or fp16-weight ones (it makes their modules' calls). It knows no scheduling and no HTTP.

    dec = Decoder(model, cache, mask_token=pad_id)
    logits = dec.decode(tokens, positions)    # lists of B ints -> (B, V) float32 logits
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flywheel.model import kernels
from flywheel.model.gpt import GPT, KVCache
from flywheel.model.quant import Fp16Linear, Int8Linear


def _linear(module: nn.Module, bias: torch.Tensor | None = None):
    """How the step runs `module`: (call, operands), run as `call(x, *operands)`.

    A `bias` given replaces the layer's own (the output layer's padding mask); int8 and fp16 layers
    take a float32 one, as their output is float32.
    """
    if isinstance(module, nn.Linear):
        own = None if module.bias is None else module.bias.detach()
        return F.linear, (module.weight.detach(), own if bias is None else bias)
    if isinstance(module, (Int8Linear, Fp16Linear)):
        return module.call(bias)
    raise TypeError(f"the lean decoder does not know how to run {type(module).__name__}")


class Decoder:
    """The decode step of `model` writing into `cache`; see the module docstring."""

    def __init__(self, model: GPT, cache: KVCache, mask_token: int | None = None, compiled: bool = True):
        cfg = model.config
        self.n_head, self.head_dim, self.n_embd = cfg.n_head, cfg.head_dim, cfg.n_embd
        self.eps = cfg.layer_norm_eps
        if not cache.kv.is_contiguous():
            raise ValueError("the lean decoder writes the cache through a flat view: it must be contiguous")
        self.cache = cache
        L, N, H, S = cfg.n_layer, cache.n_slots, self.n_head, cache.max_len
        # The whole cache as rows of D values: row (((kv * L + layer) * N + slot) * H + head) * S + position.
        self._rows = cache.kv.view(2 * L * N * H * S, self.head_dim)
        dev = cache.kv.device
        self._slot_stride = H * S
        self._layer_offsets = torch.arange(L, device=dev) * (N * H * S)  # (L,)
        # (2, H): keys' and values' head rows, so one write a layer stores both
        self._kv_head_offsets = (torch.arange(2, device=dev) * (L * N * H * S))[:, None] + torch.arange(H, device=dev) * S
        self._write_base: dict[tuple[int, int], torch.Tensor] = {}  # (first slot, rows) -> flat rows at position 0
        tr = model.transformer
        self.wte, self.wpe = tr.wte.weight.detach(), tr.wpe.weight.detach()
        self.dtype = self.wte.dtype
        # A cache narrower than the activations (float16 under the CPU's quantized precisions) is
        # written rounded and widened where attention reads it.
        self._cast = cache.kv.dtype != self.dtype
        self.layers = []
        for block in tr.h:
            self.layers.append((
                block.ln_1.weight.detach(), _detach(block.ln_1.bias),
                _linear(block.attn.c_attn), _linear(block.attn.c_proj),
                block.ln_2.weight.detach(), _detach(block.ln_2.bias),
                _linear(block.mlp.c_fc), _linear(block.mlp.c_proj),
            ))
        self.ln_f = (tr.ln_f.weight.detach(), _detach(tr.ln_f.bias))
        # A bias of zeros with -inf at the masked token (padding, never a real next token) masks it
        # inside the output layer (tied to wte, no bias of its own) instead of in a separate op per
        # step; float32 for the quantized layers, whose output is float32.
        float_head = isinstance(model.lm_head, nn.Linear)
        head_bias = torch.zeros(cfg.vocab_size, dtype=self.dtype if float_head else torch.float32,
                                device=self.wte.device)
        if mask_token is not None:
            head_bias[mask_token] = float("-inf")
        self.lm_head = _linear(model.lm_head, head_bias)
        self.device = self.wte.device
        # One-token steps over a float32 or float16 cache on the CPU attend through flywheel's compiled kernel
        # (flywheel.model.kernels) where it builds; everything else through torch's SDPA.
        self._attend = None
        if (compiled and cache.kv.device.type == "cpu" and self.dtype == torch.float32
                and cache.kv.dtype in (torch.float32, torch.float16)):
            self._attend = kernels.decode_attention()
        self._scale = self.head_dim ** -0.5

    @staticmethod
    def _lin(x: torch.Tensor, params) -> torch.Tensor:
        call, operands = params
        return call(x, *operands)

    @torch.inference_mode()
    def decode(self, tokens: list[int], positions: list[int], prefix_slots: list[int] | None = None,
               prefix_lens: list[int] | None = None) -> torch.Tensor:
        """Logits (B, V) float32 for one new token per row; row i lives in cache slot i.

        `positions[i]` is the position `tokens[i]` takes (= how many tokens row i already cached).
        `prefix_slots[i]` / `prefix_lens[i]` (optional; a length of 0 means none): the slot holding
        row i's first `prefix_lens[i]` positions too, a shared prefix the engine copied into the row.
        The compiled kernel reads those positions from that one copy for every row sharing it; the
        values are the same, so the logits are too.
        """
        B = len(tokens)
        idx = torch.tensor(tokens, dtype=torch.long, device=self.device).view(B, 1)
        span = max(positions) + 1
        if self._attend is None:
            pos = torch.tensor(positions, dtype=torch.long, device=self.device).view(B, 1)
            # Rows all at the last position (a single stream, say) see every cached key: no mask needed.
            return self._forward(idx, pos, 0, span, masked=min(positions) + 1 != span)
        # The kernel's per-row positions and prefixes in one tensor; it needs no mask.
        rows = torch.tensor([positions, prefix_slots or [0] * B, prefix_lens or [0] * B], dtype=torch.long)
        return self._forward(idx, rows[0].view(B, 1), 0, span, kernel_rows=rows)

    @torch.inference_mode()
    def prefill(self, slot: int, ids: list[int], start: int) -> torch.Tensor:
        """Run `ids` into cache slot `slot` at positions start, start+1, ...; the last one's logits (V,)."""
        T = len(ids)
        if not T:
            raise ValueError("prefill needs at least one token")
        idx = torch.tensor(ids, dtype=torch.long, device=self.device).view(1, T)
        pos = torch.arange(start, start + T, device=self.device).view(1, T)
        return self._forward(idx, pos, slot, start + T)[0]

    def _forward(self, idx: torch.Tensor, pos: torch.Tensor, first_slot: int, span: int,
                 masked: bool = True, kernel_rows: torch.Tensor | None = None) -> torch.Tensor:
        """idx, pos (B, T) into slots first_slot..first_slot+B-1; logits (B, V) of each row's last token.

        `span` (a Python int, so no device sync) is one past the furthest position any row reaches.
        `masked=False` only when every query may see every position below `span` (T == 1, all rows
        at span - 1). `kernel_rows` (3, B): a decode step (T == 1, first_slot 0) through the compiled
        kernel, with its rows' positions, prefix slots and prefix lengths; it needs no mask.
        """
        B, T = idx.shape
        H, D, C = self.n_head, self.head_dim, self.n_embd
        if span > self.cache.max_len:
            raise ValueError(f"position {span - 1} is beyond the cache ({self.cache.max_len})")
        dev, last_slot = self.device, first_slot + B
        attend = self._attend if kernel_rows is not None else None
        x = (self.wte[idx] + self.wpe[pos]).view(B * T, C)
        lin, eps = self._lin, self.eps
        if attend is None:
            # Where this step's keys and values go, once for all layers: flat cache rows (L, B*T*2*H),
            # each layer's keys then values of every row, position and head.
            base = self._write_base.get((first_slot, B))
            if base is None:  # built once per (first slot, rows): a handful of ops a step saved
                slot_rows = torch.arange(first_slot, last_slot, device=dev) * self._slot_stride  # (B,)
                base = (self._layer_offsets[:, None, None, None, None] + slot_rows[:, None, None, None]
                        + self._kv_head_offsets)  # (L, B, 1, 2, H): row of position 0
                self._write_base[(first_slot, B)] = base
            write_rows = (base + pos.view(1, B, T, 1, 1)).view(-1, B * T * 2 * H)  # (L, B*T*2*H)
            # The rows' keys and values up to `span`, every layer: (L, B, H, span, D) views, no copy.
            keys = self.cache.kv[0, :, first_slot:last_slot, :, :span]
            values = self.cache.kv[1, :, first_slot:last_slot, :, :span]
            # A query at position p sees keys 0..p of its own row; later entries of its slot are stale.
            # One additive mask (B, 1, T, span) for every layer and head.
            mask = None
            if masked:
                mask = torch.zeros(B, 1, T, span, dtype=self.dtype, device=dev)
                mask.masked_fill_(torch.arange(span, device=dev) > pos[:, None, :, None], float("-inf"))
        rows, cast = self._rows, self._cast
        layer_keys, layer_values = self.cache.kv[0], self.cache.kv[1]  # (L, N, H, S, D): every slot
        for layer, (w1, b1, attn, proj, w2, b2, fc, fc_proj) in enumerate(self.layers):
            h = torch.layer_norm(x, (C,), w1, b1, eps)
            qkv = lin(h, attn).view(B, T, 3, H, D)
            if attend is not None:
                # The kernel writes this step's keys and values into the cache, then attends: (B, H, D)
                # straight into (B, C), no transposes, no mask.
                y = attend(qkv.view(B, 3, H, D), layer_keys[layer], layer_values[layer], kernel_rows,
                           self._scale).view(B, C)
            else:
                # This step's keys and values into each row's slot at its positions, both in one write
                # of whole rows of the flat view (a cheaper dispatch than indexing the 5-d cache);
                # index_put_ rather than index_copy_: the same at batch 1, and split across threads at
                # batch 32 (a 32-row step 2-4% faster on 2 cores).
                new = qkv[:, :, 1:].reshape(B * T * 2 * H, D)
                rows.index_put_((write_rows[layer],), new.to(rows.dtype) if cast else new)
                q = qkv[:, :, 0].transpose(1, 2)  # (B, H, T, D)
                k_l, v_l = keys[layer], values[layer]
                if cast:  # a float16 cache under float32 activations: widened after this step's write
                    k_l, v_l = k_l.to(self.dtype), v_l.to(self.dtype)
                y = F.scaled_dot_product_attention(q, k_l, v_l, attn_mask=mask).transpose(1, 2).reshape(B * T, C)
            x = x + lin(y, proj)
            h = torch.layer_norm(x, (C,), w2, b2, eps)
            x = x + lin(F.gelu(lin(h, fc), approximate="tanh"), fc_proj)
        if T > 1:
            x = x.view(B, T, C)[:, -1]  # only the last position's logits are wanted
        x = torch.layer_norm(x, (C,), self.ln_f[0], self.ln_f[1], eps)
        return self._lin(x, self.lm_head).float()  # a no-op but for bf16


def _detach(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()
