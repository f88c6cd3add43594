"""The lean decode step computes what GPT.forward computes: same logits, same cache contents."""

from __future__ import annotations

import warnings

import pytest
import torch

from flywheel.model import GPT, KVCache, kernels, preset
from flywheel.model.decode import Decoder
from flywheel.model.quant import Fp16Linear, Int8Linear, fbgemm_fp16_keeps_rows, quantize_fp16, quantize_int8

PAD = 0


def _reference(model: GPT, cache: KVCache, idx: list[list[int]], pos: list[list[int]], slots: slice):
    with torch.inference_mode():
        logits = model(torch.tensor(idx), positions=torch.tensor(pos), cache=cache, slots=slots)[:, -1].float()
        logits[:, PAD] = float("-inf")
    return logits


def _run_both(model: GPT, dtype=torch.float32, compiled: bool = True):
    """Prefill three prompts (the first in two pieces, as prefix caching does), then decode 6 steps."""
    ref_cache = KVCache.allocate(model.config, 4, dtype=dtype)
    cache = KVCache.allocate(model.config, 4, dtype=dtype)
    dec = Decoder(model, cache, mask_token=PAD, compiled=compiled)
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(1, model.config.vocab_size, (n,), generator=gen).tolist() for n in (20, 3, 33)]
    pairs = []
    for slot, p in enumerate(prompts):
        want = _reference(model, ref_cache, [p], [list(range(len(p)))], slice(slot, slot + 1))[0]
        dec.prefill(slot, p[:2], 0)
        got = dec.prefill(slot, p[2:], 2)
        pairs.append((want, got))
    tokens, positions = [7, 8, 9], [len(p) for p in prompts]
    for _ in range(6):
        want = _reference(model, ref_cache, [[t] for t in tokens], [[q] for q in positions], slice(0, 3))
        got = dec.decode(tokens, positions)
        pairs.append((want, got))
        tokens, positions = got.argmax(-1).tolist(), [q + 1 for q in positions]
    return pairs, ref_cache, cache


# compiled: one-token steps attend through flywheel's CPU kernel (flywheel.model.kernels); else SDPA.
@pytest.mark.parametrize("compiled", [True, False], ids=["kernel", "sdpa"])
def test_lean_decode_equals_the_model_forward_in_fp32(compiled):
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=96)).eval()
    pairs, ref_cache, cache = _run_both(model, compiled=compiled)
    for want, got in pairs:
        assert got.dtype == torch.float32 and torch.isinf(got[..., PAD]).all()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert torch.equal(got.argmax(-1), want.argmax(-1))
    torch.testing.assert_close(cache.k[:, :3], ref_cache.k[:, :3], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cache.v[:, :3], ref_cache.v[:, :3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("compiled", [True, False], ids=["kernel", "sdpa"])
def test_unmasked_step_of_rows_at_one_position_equals_the_model_forward(compiled):
    # A single stream, or rows all at the same position, skip the attention mask: the cache beyond
    # the span is never read, and stale entries there (a longer earlier occupant) must not leak in.
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=96)).eval()
    ref_cache, cache = KVCache.allocate(model.config, 2), KVCache.allocate(model.config, 2)
    cache.k.normal_(), cache.v.normal_()  # stale data everywhere
    dec = Decoder(model, cache, mask_token=PAD, compiled=compiled)
    prompts = [[5, 6, 7, 8], [9, 10, 11, 12]]
    for slot, p in enumerate(prompts):
        _reference(model, ref_cache, [p], [list(range(4))], slice(slot, slot + 1))
        dec.prefill(slot, p, 0)
    for rows in (1, 2, 1):
        tokens, positions = [3] * rows, [4] * rows
        want = _reference(model, ref_cache, [[t] for t in tokens], [[q] for q in positions], slice(0, rows))
        torch.testing.assert_close(dec.decode(tokens, positions), want, rtol=1e-5, atol=1e-5)


@pytest.fixture(params=["kernel", "fbgemm"])
def int8_path(request, monkeypatch):
    """Int8 layers through flywheel's compiled int8 Linear (where this CPU runs it) or fbgemm's."""
    if request.param == "fbgemm":
        monkeypatch.setattr(kernels, "int8_linear", lambda: None)
    elif kernels.int8_linear() is None:
        pytest.skip("flywheel's int8 Linear is not built here (FLYWHEEL_KERNELS=off, no compiler, or not x86-64)")
    return request.param


def test_lean_decode_runs_int8_linears(int8_path):
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=96)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qmodel = quantize_int8(model)
    pairs, _, _ = _run_both(qmodel)
    for want, got in pairs:
        # Float-order differences before a row is quantized may move a value by one quantization
        # step; the logits still agree closely.
        torch.testing.assert_close(got, want, rtol=0.05, atol=0.05)


def test_int8_linear_rows_do_not_depend_on_their_batch_and_stay_close_to_float(int8_path):
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = Int8Linear(linear)
    assert (q.kernel is not None) == (int8_path == "kernel")
    x = torch.randn(9, 64)
    x[3] *= 40  # one row far larger than the rest: a per-tensor scale would coarsen every other row
    together = q(x)
    for i in range(len(x)):
        assert torch.equal(q(x[i:i + 1])[0], together[i])  # bit for bit
    want = linear(x).detach()
    rel = (together - want).abs().amax(dim=1) / want.abs().amax(dim=1)
    assert float(rel.max()) < 0.05


def test_lean_decode_runs_fp16_weight_linears_like_their_modules():
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=96)).eval()
    float_pairs, _, _ = _run_both(model)
    qmodel = quantize_fp16(model)
    assert isinstance(qmodel.lm_head, Fp16Linear) and isinstance(qmodel.transformer.h[0].mlp.c_fc, Fp16Linear)
    pairs, ref_cache, cache = _run_both(qmodel)
    for (want, got), (float_want, _) in zip(pairs, float_pairs, strict=True):
        assert got.dtype == torch.float32 and torch.isinf(got[..., PAD]).all()  # the repacked head keeps the mask
        # The lean step runs the same packed weights as the modules: float-order differences only.
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
        # fp16 weights move logits by about 1e-3 of their size, not more.
        torch.testing.assert_close(got, float_want, rtol=0.02, atol=0.02)
    torch.testing.assert_close(cache.k[:, :3], ref_cache.k[:, :3], rtol=1e-4, atol=1e-5)


def test_fp16_linear_keeps_rows_independent_and_weights_at_half_precision():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    q = Fp16Linear(linear)
    assert torch.equal(q.weight(), linear.weight.detach().half().float())  # stored as float16
    x = torch.randn(9, 64)
    x[3] *= 40
    together = q(x)
    exact = q.kernel is not None or fbgemm_fp16_keeps_rows()  # else fbgemm's AVX2 kernel: ulps apart
    for i in range(len(x)):
        alone = q(x[i:i + 1])[0]
        assert torch.equal(alone, together[i]) if exact else torch.allclose(alone, together[i], rtol=1e-5, atol=1e-6)
    want = linear(x).detach()
    rel = (together - want).abs().amax(dim=1) / want.abs().amax(dim=1)
    assert float(rel.max()) < 0.01


@pytest.mark.skipif(not (kernels._X86 and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")),
                    reason="fbgemm's AVX2 float16 kernel needs an x86-64 CPU with AVX2")
@pytest.mark.parametrize("instructions", ["AVX2", None])
def test_fbgemm_fp16_row_probe_tells_its_kernels_apart(instructions):
    """What decides whether `auto` may serve fp16 without flywheel's kernel: fbgemm's AVX2 float16
    kernel mixes rows, its AVX-512 one does not (asked for in a fresh process: fbgemm reads it once)."""
    import os
    import subprocess
    import sys

    if instructions is None and torch.backends.cpu.get_cpu_capability() != "AVX512":
        pytest.skip("fbgemm's AVX-512 kernel needs an AVX-512 CPU")
    env = {k: v for k, v in os.environ.items() if k != "FBGEMM_ENABLE_INSTRUCTIONS"}
    if instructions:
        env["FBGEMM_ENABLE_INSTRUCTIONS"] = instructions
    probe = "from flywheel.model.quant import fbgemm_fp16_keeps_rows as f; print(f())"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("False" if instructions == "AVX2" else "True")


def test_lean_decode_refuses_positions_beyond_the_cache():
    model = GPT(preset("debug", vocab_size=96)).eval()
    dec = Decoder(model, KVCache.allocate(model.config, 2))
    with pytest.raises(ValueError, match="beyond the cache"):
        dec.decode([1], [model.config.block_size])
    with pytest.raises(ValueError, match="at least one token"):
        dec.prefill(0, [], 0)
