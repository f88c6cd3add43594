"""Int8 dynamic quantization of a GPT's Linear layers with one activation scale per row (token).

`torch.ao.quantization.quantize_dynamic` quantizes a Linear's input with one scale for the whole
tensor: in a batched decode step that is the range of every row together, so a row's logits moved
with whatever else shared its batch (bench preset: up to 0.04 apart, enough to flip a greedy token
now and then), and the same request gave different text under different load. Here each row is
scaled to [-1, 1] by its own largest magnitude and a fixed anchor row (+1, -1, 0, ...) pins the
kernel's per-tensor range to [-1, 1], so the quantization grid, and the result, of a row depends on
that row alone; the output is scaled back and the bias added in one `addcmul`. Weights are int8 per
output channel (symmetric), packed for fbgemm's dynamic kernel once at load.

`Int8Linear` is the module (`GPT.forward`, held-out loss) and `int8_linear` the call the lean decode
step makes with the same tensors, so both compute the same numbers. CPU only, like fbgemm.

    model = quantize_int8(model)       # every nn.Linear -> Int8Linear (embeddings stay float32)
"""

from __future__ import annotations

import torch
from torch import nn

_DYNAMIC = torch.ops.quantized.linear_dynamic.default


def int8_linear(x: torch.Tensor, packed, bias: torch.Tensor | None, anchor: torch.Tensor) -> torch.Tensor:
    """x (N, K) float32 through packed int8 weights; each row quantized on its own scale; (N, M)."""
    n = x.shape[0]
    # abs().amax rather than vector_norm(inf): the same values, but vector_norm's reduction took
    # 26 against 4 us on a (32, 256) input and 73 against 7 on a 95-token prefill's (95, 256).
    scale = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)  # (N, 1)
    y = _DYNAMIC(torch.cat((x / scale, anchor)), packed, True)[:n]  # reduce_range, as quantize_dynamic does
    return y.mul_(scale) if bias is None else torch.addcmul(bias, y, scale)


class Int8Linear(nn.Module):
    """A Linear whose weights are int8 per output channel and whose input is quantized per row."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        if linear.in_features < 2:
            raise ValueError("the anchor row needs at least two input features")
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1).clamp(min=1e-12) / 127).double()
        zeros = torch.zeros(weight.shape[0], dtype=torch.long)
        qweight = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(qweight, None)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        anchor = torch.zeros(1, linear.in_features)
        anchor[0, 0], anchor[0, 1] = 1.0, -1.0
        self.register_buffer("anchor", anchor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).float()
        return int8_linear(flat, self.packed, self.bias, self.anchor).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 rows"


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear of `model` (in place) by an `Int8Linear`; returns the model."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, Int8Linear(child))
        else:
            quantize_int8(child)
    return model
