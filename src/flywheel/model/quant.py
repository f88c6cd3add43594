"""Weight quantization of a GPT's Linear layers for CPU serving: int8 with per-row activations, or fp16 weights.

**int8** (`quantize_int8`). `torch.ao.quantization.quantize_dynamic` quantizes a Linear's input with
one scale for the whole tensor: in a batched decode step that is the range of every row together, so
a row's logits moved with whatever else shared its batch (bench preset: up to 0.04 apart, enough to
flip a greedy token now and then), and the same request gave different text under different load.
Here each row is scaled to [-1, 1] by its own largest magnitude and a fixed anchor row (+1, -1, 0,
...) pins the kernel's per-tensor range to [-1, 1], so the quantization grid, and the result, of a
row depends on that row alone; the output is scaled back and the bias added in one `addcmul`.
Weights are int8 per output channel (symmetric), packed for fbgemm's dynamic kernel once at load.
Those six extra calls a layer cost as much as fbgemm's product; where flywheel's compiled int8 Linear
is built (`kernels.int8_linear()`, x86-64 with AVX2) one call does the row scaling, the product and
the rescaling instead (csrc/int8_linear.cpp; activations get 8 bits with AVX-512 VNNI, 7 without, as
in fbgemm), with the same weights laid out by `int8_panels`: a one-row bench-preset step 0.24 against
0.85 ms.

**fp16** (`quantize_fp16`). Weights stored as float16 and widened inside the product (flywheel's
compiled fp16 Linear where it is built, else fbgemm's GEMM; see `Fp16Linear`), activations and
outputs float32: half the bytes a step reads, no activation quantization (so no per-row ops, and a
row does not depend on its batch, but for fbgemm's AVX2 kernel: `fbgemm_fp16_keeps_rows`), and
rounding error of about 1e-3 of a weight. For models the size this project serves on CPU, a decode step is bound by reading weights and by per-op overhead
rather than by arithmetic, which is where it wins: a chain of the bench preset's 17 Linears took
0.39 ms at batch 1 against 0.45 ms fp32 and 0.73 ms int8 (whose extra per-row ops cost more than its
smaller weights save at that size), 0.57 against 1.09 and 0.80 ms at batch 4 (one thread).

`Int8Linear` / `Fp16Linear` are the modules (`GPT.forward`, held-out loss); their `call` is what the
lean decode step runs with the same tensors, so both compute the same numbers. CPU only, like fbgemm.

    model = quantize_int8(model)       # every nn.Linear -> Int8Linear (embeddings stay float32)
    model = quantize_fp16(model)       # every nn.Linear -> Fp16Linear
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from flywheel.model import kernels

_DYNAMIC = torch.ops.quantized.linear_dynamic.default
# x (N, K) float32 through packed float16 weights (bias packed with them) -> (N, M) float32: the op
# itself, no Python wrapper, as the decode step calls it 17 times a step at the bench preset.
fp16_linear = torch.ops.quantized.linear_dynamic_fp16.default


def int8_linear(x: torch.Tensor, packed, bias: torch.Tensor | None, anchor: torch.Tensor) -> torch.Tensor:
    """x (N, K) float32 through packed int8 weights; each row quantized on its own scale; (N, M)."""
    n = x.shape[0]
    # abs().amax rather than vector_norm(inf): the same values, but vector_norm's reduction took
    # 26 against 4 us on a (32, 256) input and 73 against 7 on a 95-token prefill's (95, 256).
    scale = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)  # (N, 1)
    y = _DYNAMIC(torch.cat((x / scale, anchor)), packed, True)[:n]  # reduce_range, as quantize_dynamic does
    return y.mul_(scale) if bias is None else torch.addcmul(bias, y, scale)


class Int8Linear(nn.Module):
    """A Linear whose weights are int8 per output channel and whose input is quantized per row.

    Where flywheel's compiled int8 Linear is built (`kernels.int8_linear()`), the layer keeps only its
    operands (`int8_panels`) and the activation bits this CPU runs it at, and every call, this
    module's and the decode step's, goes through it; elsewhere fbgemm's packed weights and
    `int8_linear`, with its anchor row. Either way the whole process computes one set of numbers, so
    a prefill and the decode steps after it agree.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        if linear.in_features < 2:
            raise ValueError("the anchor row needs at least two input features")
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1).clamp(min=1e-12) / 127).double()
        zeros = torch.zeros(weight.shape[0], dtype=torch.long)
        qweight = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.kernel = None  # (panels, colsum, wscale) for the compiled op, or None: fbgemm
        self.packed = None
        self.bits = 0
        anchor = None  # fbgemm's only: the row that pins its per-tensor range to [-1, 1]
        if kernels.int8_linear() is not None:
            self.kernel = int8_panels(qweight.int_repr(), scales.float())
            self.bits = kernels.int8_bits()
        else:
            self.packed = torch.ops.quantized.linear_prepack(qweight, None)
            anchor = torch.zeros(1, linear.in_features)
            anchor[0, 0], anchor[0, 1] = 1.0, -1.0
        self.register_buffer("anchor", anchor)

    def call(self, bias: torch.Tensor | None = None):
        """(fn, operands): `fn(x, *operands)` runs this layer on rows x (N, K), with `bias` for its own if given."""
        bias = self.bias if bias is None else bias
        if self.kernel is not None:
            return torch.ops.flywheel.int8_linear.default, (*self.kernel, bias, self.out_features, self.bits)
        return int8_linear, (self.packed, bias, self.anchor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).float().contiguous()
        fn, operands = self.call()
        return fn(flat, *operands).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        kind = f"flywheel's kernel, {self.bits}-bit activations" if self.kernel is not None else "fbgemm"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 rows ({kind})"


def int8_panels(qweight: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Int8 weights (N, K) and their per-output scales (N,) as flywheel's compiled int8 Linear reads
    them (csrc/int8_linear.cpp): panels (ceil(N / 16), ceil(K / 4), 64) int8, each 64 bytes 4
    consecutive k of 16 outputs; colsum, each output's weight sum (the kernel takes its unsigned
    activations' zero point times it back off), int32; and the scales, float32; outputs past N and k
    past K are zero."""
    n, k = qweight.shape
    blocks, groups = -(-n // 16), -(-k // 4)
    padded = qweight.new_zeros(blocks * 16, groups * 4)
    padded[:n, :k] = qweight
    panels = padded.view(blocks, 16, groups, 4).permute(0, 2, 1, 3).contiguous().view(blocks, groups, 64)
    colsum = torch.zeros(blocks * 16, dtype=torch.int32)
    colsum[:n] = qweight.sum(dim=1, dtype=torch.int32)
    wscale = torch.zeros(blocks * 16)
    wscale[:n] = scales
    return panels, colsum, wscale


def pack_fp16(weight: torch.Tensor, bias: torch.Tensor | None):
    """fbgemm's packed float16 form of a float weight (M, K) and optional bias (M,)."""
    return torch.ops.quantized.linear_prepack_fp16(weight.detach().float(),
                                                   None if bias is None else bias.detach().float())


def fp16_weight(packed) -> torch.Tensor:
    """The packed float16 weights, widened back to float32 (exactly the values the kernel uses)."""
    return torch.ops.quantized.linear_unpack_fp16(packed)[0]


def fp16_bias(packed) -> torch.Tensor | None:
    """The packed layer's float32 bias (None if it has none)."""
    return torch.ops.quantized.linear_unpack_fp16(packed)[1]


def fp16_panels(packed) -> torch.Tensor:
    """The packed float16 weights (N, K) laid out for flywheel's compiled fp16 Linear
    (csrc/fp16_linear.cpp): panels of 8 outputs, (ceil(N / 8), K, 8) float16, outputs past N zero."""
    weight = fp16_weight(packed).half()  # exact: the values are float16 already
    n, k = weight.shape
    blocks = -(-n // 8)
    padded = weight.new_zeros(blocks * 8, k)
    padded[:n] = weight
    return padded.view(blocks, 8, k).transpose(1, 2).contiguous()


@functools.cache
def fbgemm_fp16_keeps_rows() -> bool:
    """Whether fbgemm's float16 GEMM gives every row the same numbers in a batch as alone, on this CPU.

    Its AVX-512 kernel does; its AVX2 kernel does not (FBGEMM_ENABLE_INSTRUCTIONS=AVX2 here, and an
    emulated Haswell: rows off by an ulp or so, as float32's Linear is, whose one-row product takes
    another summation order than its batched one). Which kernel fbgemm runs is its own choice at run
    time, so this asks it: a few shapes, each row alone against the batch (a millisecond, once).
    False where this torch has no fbgemm float16 GEMM at all (not x86).
    """
    gen = torch.Generator().manual_seed(0)
    try:
        for rows, k, n in ((9, 64, 48), (13, 256, 200), (6, 520, 100)):
            x = torch.randn(rows, k, generator=gen)
            x[rows // 2] *= 40
            packed = pack_fp16(torch.randn(n, k, generator=gen) / k ** 0.5, torch.randn(n, generator=gen))
            together = fp16_linear(x, packed)
            if any(not torch.equal(fp16_linear(x[i:i + 1], packed)[0], together[i]) for i in range(rows)):
                return False
    except (RuntimeError, NotImplementedError):  # no fbgemm build of the op on this machine
        return False
    return True


class Fp16Linear(nn.Module):
    """A Linear whose weights are stored as float16; its input and output stay float32.

    Where flywheel's compiled fp16 Linear is built (`kernels.fp16_linear()`), the layer keeps only its
    operands (`fp16_panels` and the bias) and every call, this module's and the decode step's, at any
    number of rows, goes through it; elsewhere fbgemm's packed weights and `fp16_linear`. fbgemm's
    float16 GEMM cannot be mixed with the kernel: its AVX2 kernel gives a row other numbers in a
    batch than alone (`fbgemm_fp16_keeps_rows`), and even with AVX-512 it sums the outputs past the
    last whole 16 in blocks once K passes 512. The kernel's rows never depend on their batch, and it
    was as fast as fbgemm up to 256 rows (2 threads, 256 x 768: 6 against 18 us at one row, 134
    against 140 at 64, 530 against 512 at 256). Without the kernel on a CPU where fbgemm runs its
    AVX2 kernel, rows differ from their batch by an ulp or so, as under fp32; `auto` serves int8
    there (`serving.runner.resolve_precision`), whose rows are exact.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        packed = pack_fp16(linear.weight, linear.bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.kernel = None  # (panels, bias) for the compiled op, or None: fbgemm
        self.packed = None
        if kernels.fp16_linear() is not None:
            self.kernel = (fp16_panels(packed), fp16_bias(packed))
        else:
            self.packed = packed

    def call(self, bias: torch.Tensor | None = None):
        """(fn, operands): `fn(x, *operands)` runs this layer on rows x (N, K), with `bias` for its own if given."""
        if self.kernel is not None:
            panels, own = self.kernel
            return torch.ops.flywheel.fp16_linear.default, (panels, own if bias is None else bias, self.out_features)
        # fbgemm packs the bias with the weights: repack for another.
        return fp16_linear, (self.packed if bias is None else pack_fp16(fp16_weight(self.packed), bias),)

    def weight(self) -> torch.Tensor:
        """The stored float16 weights (out_features, in_features), widened to float32."""
        if self.kernel is None:
            return fp16_weight(self.packed)
        panels = self.kernel[0]  # (ceil(N / 8), K, 8)
        return panels.transpose(1, 2).reshape(-1, self.in_features)[:self.out_features].float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).float().contiguous()
        fn, operands = self.call()
        return fn(flat, *operands).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        kind = "flywheel's kernel" if self.kernel is not None else "fbgemm"
        return f"in_features={self.in_features}, out_features={self.out_features}, fp16 weights ({kind})"


def _replace_linears(model: nn.Module, kind: type[nn.Module]) -> nn.Module:
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, kind(child))
        else:
            _replace_linears(child, kind)
    return model


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear of `model` (in place) by an `Int8Linear`; returns the model."""
    return _replace_linears(model, Int8Linear)


def quantize_fp16(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear of `model` (in place) by an `Fp16Linear`; returns the model."""
    return _replace_linears(model, Fp16Linear)
