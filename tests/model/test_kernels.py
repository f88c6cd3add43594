"""flywheel's compiled CPU kernels for decode steps, built here: the attention (equal to SDPA, rows
independent), the fp16-weight Linear (rows independent of their batch, close to the exact product)
and the int8 Linear (its per-row formula written in torch, bit for bit: 7-bit activations, and
8-bit on CPUs with AVX-512 VNNI)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from flywheel.model import GPT, KVCache, kernels, preset
from flywheel.model.decode import Decoder
from flywheel.model.quant import (
    Int8Linear,
    fp16_bias,
    fp16_panels,
    fp16_weight,
    int8_panels,
    pack_fp16,
    quantize_fp16,
    quantize_int8,
)

pytestmark = pytest.mark.skipif(not kernels.enabled(), reason="FLYWHEEL_KERNELS=off, or not an x86-64 CPU "
                                                              "with AVX2: torch's attention only")


@pytest.fixture(scope="module")
def op():
    built = kernels.decode_attention()
    assert built is not None, "the kernel did not build (see the warning in the log): a C++ compiler is needed"
    return built


def _layer(N, H, S, D, seed=0, dtype=torch.float32):
    """One layer's keys and values over every slot, as the decoder passes them: views of a (2, L, N, H, S, D) cache."""
    kv = torch.randn(2, 2, N, H, S, D, generator=torch.Generator().manual_seed(seed)).to(dtype)
    return kv[0, 1], kv[1, 1]


def _rows(last, prefix_slot=None, prefix_len=None):
    B = len(last)
    return torch.tensor([last, prefix_slot or [0] * B, prefix_len or [0] * B], dtype=torch.long)


def _sdpa(q, k, v, n):
    """Reference: one row's heads (H, D) over keys/values (H, >=n, D), positions 0..n-1."""
    return F.scaled_dot_product_attention(q[:, None], k[:, :n], v[:, :n])[:, 0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])  # the cache's; float16 under int8 / fp16
@pytest.mark.parametrize("D", [12, 16, 40, 64])  # 12 and 40: a tail past the 8-wide lanes
def test_writes_the_new_key_and_value_then_equals_sdpa_over_each_rows_own_positions(op, D, dtype):
    B, H, S = 5, 3, 40
    k, v = _layer(B + 2, H, S, D, dtype=dtype)
    before_k, before_v = k.clone(), v.clone()
    qkv = torch.randn(B, 3, H, D)  # query, new key, new value: the fused projection's output
    last = [0, 39, 17, 5, 38]
    got = op(qkv, k, v, _rows(last), D ** -0.5)
    assert got.shape == (B, H, D) and got.dtype == torch.float32
    for b in range(B):
        # Written as torch rounds them to the cache's type, and attended over exactly those values.
        assert torch.equal(k[b, :, last[b]], qkv[b, 1].to(dtype)) and torch.equal(v[b, :, last[b]], qkv[b, 2].to(dtype))
        want = _sdpa(qkv[b, 0], k[b].float(), v[b].float(), last[b] + 1)
        torch.testing.assert_close(got[b], want, rtol=1e-5, atol=1e-6)
    # Nothing else in the cache moved.
    for b in range(B):
        before_k[b, :, last[b]], before_v[b, :, last[b]] = qkv[b, 1], qkv[b, 2]
    assert torch.equal(k, before_k) and torch.equal(v, before_v)


def test_a_shared_prefix_is_read_from_its_own_slot(op):
    B, H, S, D, P = 3, 2, 30, 16, 6  # slot 5 holds a 6-token prefix shared by rows 0 and 2
    k, v = _layer(6, H, S, D, seed=3)
    qkv = torch.randn(B, 3, H, D)
    last = [20, 9, 6]
    # Where the engine copied the prefix into the rows, reading it from the prefix slot changes nothing.
    k[[0, 2], :, :P], v[[0, 2], :, :P] = k[5, :, :P], v[5, :, :P]
    plain = op(qkv, k, v, _rows(last), 0.25)
    shared = op(qkv, k, v, _rows(last, [5, 0, 5], [P, 0, P]), 0.25)
    assert torch.equal(shared, plain)
    # And it is read from there: the rows' own copies are never touched for those positions.
    k[[0, 2], :, :P], v[[0, 2], :, :P] = float("nan"), float("nan")
    assert torch.equal(op(qkv, k, v, _rows(last, [5, 0, 5], [P, 0, P]), 0.25), plain)
    assert torch.isnan(op(qkv, k, v, _rows(last), 0.25)[0]).all()


def test_a_row_is_the_same_alone_in_any_batch_and_on_any_thread_count(op):
    B, H, S, D = 32, 4, 200, 64  # a wide step: split across threads
    k, v = _layer(B + 1, H, S, D, seed=1)
    qkv = torch.randn(B, 3, H, D)
    last = torch.randint(10, S, (B,), generator=torch.Generator().manual_seed(2)).tolist()
    pslot, plen = [B] * B, [10 if b % 2 else 0 for b in range(B)]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batched = op(qkv, k, v, _rows(last, pslot, plen), 0.125)
        torch.set_num_threads(1)
        serial = op(qkv, k, v, _rows(last, pslot, plen), 0.125)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(batched, serial)
    for b in (0, 7, 31):
        # Alone: the row moved to slot 0 of a one-row batch, its prefix slot where it was.
        k1, v1 = k.clone(), v.clone()
        k1[0], v1[0] = k[b], v[b]
        alone = op(qkv[b:b + 1], k1, v1, _rows([last[b]], [B], [plen[b]]), 0.125)
        assert torch.equal(alone[0], batched[b])


def test_bad_input_is_refused_with_the_reason(op):
    k, v = _layer(3, 2, 8, 8)
    qkv = torch.randn(2, 3, 2, 8)
    with pytest.raises(RuntimeError, match="outside the cache's 8 positions"):
        op(qkv, k, v, _rows([3, 8]), 1.0)
    with pytest.raises(RuntimeError, match="reaches its newest position"):
        op(qkv, k, v, _rows([3, 4], [2, 2], [4, 0]), 1.0)
    with pytest.raises(RuntimeError, match="outside the cache's 3 slots"):
        op(qkv, k, v, _rows([3, 4], [3, 0], [2, 0]), 1.0)
    with pytest.raises(RuntimeError, match="float32"):
        op(qkv.double(), k, v, _rows([3, 4]), 1.0)
    with pytest.raises(RuntimeError, match="both float32 or both float16"):
        op(qkv, k, v.half(), _rows([3, 4]), 1.0)
    with pytest.raises(RuntimeError, match=r"\(3, B\) int64"):
        op(qkv, k, v, _rows([3, 4]).int(), 1.0)


def test_the_decoder_attends_through_it_on_a_float32_cpu_cache(op):
    model = GPT(preset("debug", vocab_size=96)).eval()
    assert Decoder(model, KVCache.allocate(model.config, 2))._attend is op
    assert Decoder(model, KVCache.allocate(model.config, 2), compiled=False)._attend is None
    assert Decoder(model, KVCache.allocate(model.config, 2, dtype=torch.float16))._attend is op
    bf16 = GPT(preset("debug", vocab_size=96)).to(torch.bfloat16).eval()
    assert Decoder(bf16, KVCache.allocate(bf16.config, 2, dtype=torch.bfloat16))._attend is None


def test_without_a_compiler_the_decoder_warns_and_uses_torchs_attention(tmp_path):
    import os
    import subprocess
    import sys

    code = ("import logging, torch\n"
            "from flywheel.model import GPT, KVCache, preset\n"
            "from flywheel.model.decode import Decoder\n"
            "model = GPT(preset('debug', vocab_size=96)).eval()\n"
            "dec = Decoder(model, KVCache.allocate(model.config, 2))\n"
            "assert dec._attend is None\n"
            "assert dec.decode([1, 2], [0, 0]).shape == (2, 96)\n")
    env = {**os.environ, "CXX": "/bin/false", "TORCH_EXTENSIONS_DIR": str(tmp_path)}  # a fresh build dir
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "kernels could not be built" in done.stderr and "using torch's attention" in done.stderr


@pytest.fixture(scope="module")
def linear_op():
    built = kernels.fp16_linear()
    assert built is not None, "the kernels did not build (see the warning in the log): a C++ compiler is needed"
    return built


# N 517 and 12: a last panel of 5 and 4 outputs; K 40: not a multiple of the 8 lanes; 1024 x 260:
# a shape fbgemm's AVX-512 kernel sums in blocks along K past the last whole 16 outputs.
@pytest.mark.parametrize(("K", "N"), [(256, 768), (1024, 256), (256, 517), (40, 12), (1024, 260)])
def test_fp16_linear_rows_never_depend_on_their_batch_or_threads(linear_op, K, N):
    gen = torch.Generator().manual_seed(K + N)
    packed = pack_fp16(torch.randn(N, K, generator=gen) * 0.05, torch.randn(N, generator=gen))
    panels, bias = fp16_panels(packed), fp16_bias(packed)
    x = torch.randn(40, K, generator=gen)
    alone = torch.cat([linear_op(x[i:i + 1], panels, bias, N) for i in range(len(x))])
    # The float16 weights' exact product, in float64: the kernel is float32 arithmetic on those values.
    want = x.double() @ fp16_weight(packed).double().t() + bias.double()
    assert float((alone.double() - want).abs().max()) < 1e-4 * float(want.abs().max())
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for rows in (1, 2, 4, 5, 8, 13, 40):  # one row, whole and partial groups of four, wide
                got = linear_op(x[:rows], panels, bias, N)
                assert got.shape == (rows, N)
                assert torch.equal(got, alone[:rows]), (threads, rows)
    finally:
        torch.set_num_threads(before)
    # No bias: the products alone.
    bare = linear_op(x[:3], panels, None, N).double() - (want[:3] - bias.double())
    assert float(bare.abs().max()) < 1e-4 * float(want.abs().max())


def test_fp16_linear_refuses_bad_input_with_the_reason(linear_op):
    packed = pack_fp16(torch.randn(16, 32), None)
    panels = fp16_panels(packed)
    with pytest.raises(RuntimeError, match="contiguous"):
        linear_op(torch.randn(32, 2).t(), panels, None, 16)
    with pytest.raises(RuntimeError, match=r"panels: \(ceil\(N / 8\), K, 8\) float16"):
        linear_op(torch.randn(2, 32), panels, None, 17)
    with pytest.raises(RuntimeError, match="float16"):
        linear_op(torch.randn(2, 32), panels.float(), None, 16)
    with pytest.raises(RuntimeError, match=r"bias: \(N,\) float32"):
        linear_op(torch.randn(2, 32), panels, torch.zeros(15), 16)


def test_fp16_layers_run_through_it_in_the_module_and_the_decode_step(linear_op):
    # n_embd 136: the MLP's output layer is 136 x 544, a shape fbgemm sums in another order.
    torch.manual_seed(0)
    model = quantize_fp16(GPT(preset("debug", vocab_size=96, n_embd=136)).eval())
    layer = model.transformer.h[0].mlp.c_proj
    assert layer.kernel is not None and layer.packed is None
    x = torch.randn(5, 544)
    assert torch.equal(layer(x), linear_op(x, *layer.kernel, 136))
    dec = Decoder(model, KVCache.allocate(model.config, 12, 64), mask_token=0)
    assert dec.layers[0][2][0] is linear_op and dec.layers[0][-1][0] is linear_op
    # The prefill through the module equals the step's logits for the same prompt: one set of numbers.
    full = model(torch.tensor([list(range(1, 10))]))[0, -1]
    dec.prefill(0, list(range(1, 9)), 0)
    step = dec.decode([9], [8])[0]
    assert torch.isinf(step[0])
    torch.testing.assert_close(step[1:], full[1:], rtol=1e-5, atol=1e-5)
    # A batched step gives each row what that row's step gives alone.
    for slot in range(1, 12):
        dec.prefill(slot, list(range(1, 9 + slot)), 0)
    tokens, positions = list(range(3, 15)), list(range(8, 20))
    together = dec.decode(tokens, positions)
    for i in range(12):  # row i alone: its prompt in slot 0 of a fresh cache
        alone = Decoder(model, KVCache.allocate(model.config, 1, 64), mask_token=0)
        alone.prefill(0, list(range(1, 9 + i)), 0)
        assert torch.equal(alone.decode([tokens[i]], [positions[i]])[0], together[i]), i


@pytest.fixture(scope="module")
def int8_kernel():
    op = kernels.int8_linear()
    assert op is not None, "the kernels did not build (see the warning in the log): a C++ compiler is needed"
    return op


# Both variants: 7-bit activations (AVX2, any CPU here) and 8-bit (AVX-512 VNNI, where this CPU has it).
@pytest.fixture(params=[7, 8])
def int8_op(request, int8_kernel):
    bits = request.param
    if bits == 8 and kernels.int8_bits() != 8:
        pytest.skip("this CPU has no AVX-512 VNNI: the 8-bit variant does not run here")
    return lambda x, panels, colsum, wscale, bias, n: int8_kernel(x, panels, colsum, wscale, bias, n, bits), bits


def _int8_formula(x, qweight, scales, bias, bits):
    """csrc/int8_linear.cpp's arithmetic in torch: each row on its own scale, exact integer sums."""
    levels, zero = (127.0, 128) if bits == 8 else (63.0, 64)
    m = x.abs().amax(dim=1, keepdim=True)
    inv = torch.full_like(m, levels) / m
    inv = torch.where((m > 0) & inv.isfinite(), inv, torch.zeros_like(m))  # tiny rows: all zero point
    q = torch.round(x * inv).long() + zero  # round half to even, as the kernel's conversion does
    raw = (q @ qweight.long().T - zero * qweight.long().sum(dim=1)).int().float()
    y = raw * ((m / levels) * scales)
    return y if bias is None else y + bias


def _int8_weights(N, K, gen):
    weight = torch.randn(N, K, generator=gen)
    scales = weight.abs().amax(dim=1) / 127
    return torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


# N 517 and 12: a last panel of 5 and 12 outputs; K 1023 and 13: not a multiple of the 4 bytes summed at once.
@pytest.mark.parametrize(("K", "N"), [(256, 768), (1024, 256), (1023, 517), (13, 12)])
def test_int8_linear_computes_its_formula_bit_for_bit_for_any_rows_and_threads(int8_op, K, N):
    op, bits = int8_op
    gen = torch.Generator().manual_seed(K + N)
    qweight, scales = _int8_weights(N, K, gen)
    qweight[0] = 127  # the largest pair sums: 7-bit activations keep them below int16 saturation
    qweight[1] = -127
    operands = int8_panels(qweight, scales)
    bias = torch.randn(N, generator=gen)
    x = torch.randn(37, K, generator=gen) * 3
    x[5] *= 50  # a row far larger than the rest changes no other row's scale
    x[6] = 0  # a row of zeros: the bias alone
    x[7] *= 1e-38  # too small for L / max to be finite: the bias alone too
    x[8] = x[8].abs()  # every activation at or above the zero point, against the all-127 weights
    x[9] = 1.0  # every activation at the top code: against the all-127 weights, the largest pair sums
    want = _int8_formula(x, qweight, scales, bias, bits)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for rows in (1, 3, 4, 7, 37):  # one row, whole and partial groups of two and four
                got = op(x[:rows], *operands, bias, N)
                assert got.shape == (rows, N)
                assert torch.equal(got, want[:rows]), (threads, rows)
            assert torch.equal(op(x[6:8], *operands, bias, N), bias.expand(2, N))
            assert torch.equal(op(x[:4], *operands, None, N), _int8_formula(x[:4], qweight, scales, None, bits))
    finally:
        torch.set_num_threads(before)
    # Close to the float product: 8 bits within about 1% of a row's largest output, 7 within 2%.
    exact = x @ (qweight.float() * scales[:, None]).T + bias
    rel = ((want - exact).abs().amax(dim=1) / exact.abs().amax(dim=1))[[0, 1, 2, 3, 4, 5, 8, 9]]
    assert float(rel.max()) < (0.02 if bits == 8 else 0.04)


def test_int8_linear_gives_nan_for_a_row_with_nan_or_infinity_wherever_it_sits(int8_op):
    op, _ = int8_op
    qweight, scales = _int8_weights(20, 37, torch.Generator().manual_seed(1))
    operands = int8_panels(qweight, scales)
    for k in (0, 3, 19, 36):  # in a whole vector and in the last, partial one
        for bad in (float("nan"), float("inf"), float("-inf")):
            x = torch.ones(3, 37)
            x[1, k] = bad
            y = op(x, *operands, None, 20)
            assert y[1].isnan().all() and y[[0, 2]].isfinite().all(), (k, bad)


def test_int8_linear_refuses_bad_input_with_the_reason(int8_kernel):
    qweight, scales = _int8_weights(20, 32, torch.Generator().manual_seed(0))
    panels, colsum, wscale = int8_panels(qweight, scales)
    with pytest.raises(RuntimeError, match="contiguous"):
        int8_kernel(torch.randn(32, 2).t(), panels, colsum, wscale, None, 20, 7)
    with pytest.raises(RuntimeError, match=r"panels: \(ceil\(N / 16\), ceil\(K / 4\), 64\) int8"):
        int8_kernel(torch.randn(2, 36), panels, colsum, wscale, None, 20, 7)
    with pytest.raises(RuntimeError, match=r"colsum: \(ceil\(N / 16\) \* 16,\) int32"):
        int8_kernel(torch.randn(2, 32), panels, colsum.long(), wscale, None, 20, 7)
    with pytest.raises(RuntimeError, match=r"bias: \(N,\) float32"):
        int8_kernel(torch.randn(2, 32), panels, colsum, wscale, torch.zeros(19), 20, 7)
    with pytest.raises(RuntimeError, match="bits must be 7, or 8"):
        int8_kernel(torch.randn(2, 32), panels, colsum, wscale, None, 20, 6)
    wide_q, wide_s = _int8_weights(16, 65537, torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError, match="past the 65,536 inputs"):
        int8_kernel(torch.randn(1, 65537), *int8_panels(wide_q, wide_s), None, 16, 7)


def test_int8_layers_run_through_it_in_the_module_and_the_decode_step(int8_kernel):
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=96)).eval()
    linear = torch.nn.Linear(64, 48)
    layer = Int8Linear(linear)
    assert layer.kernel is not None and layer.packed is None and layer.bits == kernels.int8_bits()
    x = torch.randn(5, 64)
    assert torch.equal(layer(x), int8_kernel(x, *layer.kernel, layer.bias, 48, layer.bits))
    float_logits = model(torch.tensor([[5, 9, 2]]))[0, -1]
    qmodel = quantize_int8(model)
    dec = Decoder(qmodel, KVCache.allocate(qmodel.config, 1, 64), mask_token=0)
    assert dec.layers[0][2][0] is int8_kernel
    logits = dec.prefill(0, [5, 9, 2], 0)
    assert torch.isinf(logits[0])  # the output layer's padding mask survives the kernel's bias
    torch.testing.assert_close(logits[1:], float_logits[1:].detach(), rtol=0.05, atol=0.05)


def test_a_float16_cache_gives_the_same_steps_through_the_kernel_and_sdpa_and_keeps_rows_independent(op):
    """The CPU's quantized precisions keep keys and values as float16 (serving.runner.cache_dtype): a
    prefill writes them through torch, a step through the kernel, both rounded the same way."""
    torch.manual_seed(0)
    model = quantize_int8(GPT(preset("debug", vocab_size=96)).eval())
    decoders = [Decoder(model, KVCache.allocate(model.config, 6, 64, dtype=torch.float16), mask_token=0,
                        compiled=compiled) for compiled in (True, False)]
    wide = Decoder(model, KVCache.allocate(model.config, 6, 64), mask_token=0)
    assert decoders[0]._attend is op and decoders[1]._attend is None
    prompts = [list(range(1, 6 + 3 * slot)) for slot in range(4)]
    for dec in (*decoders, wide):
        for slot, ids in enumerate(prompts):
            dec.prefill(slot, ids, 0)
    tokens, positions = [7, 8, 9, 10], [len(ids) for ids in prompts]
    fast, plain, full = (dec.decode(tokens, positions) for dec in (*decoders, wide))
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)  # kernel and SDPA: float order only
    assert torch.equal(decoders[0].cache.kv, decoders[1].cache.kv)  # the same float16 values written
    torch.testing.assert_close(fast, full, rtol=0.02, atol=0.02)  # float16 keys move logits a little
    for row in range(4):  # a row alone in a step (moved to slot 0) gives its batched logits, bit for bit
        alone = Decoder(model, KVCache.allocate(model.config, 1, 64, dtype=torch.float16), mask_token=0)
        alone.prefill(0, prompts[row], 0)
        assert torch.equal(alone.decode([tokens[row]], [positions[row]])[0], fast[row])
