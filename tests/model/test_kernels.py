"""flywheel's compiled CPU attention for decode steps: built here, equal to SDPA, rows independent."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from flywheel.model import GPT, KVCache, kernels, preset
from flywheel.model.decode import Decoder

pytestmark = pytest.mark.skipif(not kernels.enabled(), reason="FLYWHEEL_KERNELS=off: torch's attention only")


@pytest.fixture(scope="module")
def op():
    built = kernels.decode_attention()
    assert built is not None, "the kernel did not build (see the warning in the log): a C++ compiler is needed"
    return built


def _cache_views(B, H, S, D, seed=0):
    """Keys and values as the decoder passes them: slot views of a (2, L, N, H, S, D) cache."""
    gen = torch.Generator().manual_seed(seed)
    kv = torch.randn(2, 2, B + 3, H, S, D, generator=gen)
    return kv[0, 1, 2:2 + B], kv[1, 1, 2:2 + B]  # layer 1, slots 2..B+1: strided, not contiguous


@pytest.mark.parametrize("D", [16, 64])
def test_equals_sdpa_over_each_rows_own_positions(op, D):
    B, H, S = 5, 3, 40
    k, v = _cache_views(B, H, S, D)
    qkv = torch.randn(B, 3, H, D)  # q as the decoder slices it from the fused projection: strided
    q = qkv[:, 0]
    last = torch.tensor([0, 39, 17, 5, 38])
    got = op(q, k, v, last, D ** -0.5)
    assert got.shape == (B, H, D) and got.dtype == torch.float32
    for b in range(B):
        n = int(last[b]) + 1
        want = F.scaled_dot_product_attention(q[b, :, None], k[b, :, :n], v[b, :, :n])[:, 0]
        torch.testing.assert_close(got[b], want, rtol=1e-5, atol=1e-6)


def test_a_row_is_the_same_alone_in_any_batch_and_on_any_thread_count(op):
    B, H, S, D = 32, 4, 200, 64  # a wide step: split across threads
    k, v = _cache_views(B, H, S, D, seed=1)
    q = torch.randn(B, H, D)
    last = torch.randint(0, S, (B,), generator=torch.Generator().manual_seed(2))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batched = op(q, k, v, last, 0.125)
        torch.set_num_threads(1)
        serial = op(q, k, v, last, 0.125)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(batched, serial)
    for b in (0, 7, 31):
        alone = op(q[b:b + 1], k[b:b + 1], v[b:b + 1], last[b:b + 1], 0.125)
        assert torch.equal(alone[0], batched[b])


def test_bad_input_is_refused_with_the_reason(op):
    k, v = _cache_views(2, 2, 8, 4)
    q = torch.randn(2, 2, 4)
    with pytest.raises(RuntimeError, match="outside the cache's 8 positions"):
        op(q, k, v, torch.tensor([3, 8]), 1.0)
    with pytest.raises(RuntimeError, match="float32"):
        op(q.double(), k, v, torch.tensor([3, 4]), 1.0)
    with pytest.raises(RuntimeError, match=r"\(B,\) int64"):
        op(q, k, v, torch.tensor([3, 4], dtype=torch.int32), 1.0)


def test_the_decoder_attends_through_it_on_a_float32_cpu_cache(op):
    model = GPT(preset("debug", vocab_size=96)).eval()
    assert Decoder(model, KVCache.allocate(model.config, 2))._attend is op
    assert Decoder(model, KVCache.allocate(model.config, 2), compiled=False)._attend is None
    bf16 = GPT(preset("debug", vocab_size=96)).to(torch.bfloat16).eval()
    assert Decoder(bf16, KVCache.allocate(bf16.config, 2, dtype=torch.bfloat16))._attend is None
