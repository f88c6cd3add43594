import pytest
import torch

from flywheel.model import GPT, IGNORE_INDEX, GPTConfig, KVCache, preset


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPT(preset("debug")).eval()


def test_kv_cache_token_by_token_equals_full_forward(model):
    idx = torch.randint(0, model.config.vocab_size, (1, 40))
    full = model(idx)  # (1, T, V)
    cache = KVCache.allocate(model.config, n_slots=3)
    slot = torch.tensor([2])
    steps = [model(idx[:, t:t + 1], positions=torch.tensor([[t]]), cache=cache, slots=slot)
             for t in range(idx.shape[1])]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-5)


def test_kv_cache_prefill_then_decode_with_rows_at_different_lengths(model):
    a = torch.randint(0, model.config.vocab_size, (1, 30))
    b = torch.randint(0, model.config.vocab_size, (1, 12))
    cache = KVCache.allocate(model.config, n_slots=2)
    model(a[:, :-1], positions=torch.arange(29)[None], cache=cache, slots=torch.tensor([0]))
    model(b[:, :-1], positions=torch.arange(11)[None], cache=cache, slots=torch.tensor([1]))
    # One batched decode step: row 0 at position 29, row 1 at position 11.
    step = model(torch.stack([a[0, -1:], b[0, -1:]]), positions=torch.tensor([[29], [11]]),
                 cache=cache, slots=torch.tensor([0, 1]))
    torch.testing.assert_close(step[0, -1], model(a)[0, -1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(step[1, -1], model(b)[0, -1], rtol=1e-4, atol=1e-5)


def test_prefix_copy_reuses_cached_positions(model):
    prefix = torch.randint(0, model.config.vocab_size, (1, 16))
    tail = torch.randint(0, model.config.vocab_size, (1, 5))
    cache = KVCache.allocate(model.config, n_slots=2)
    model(prefix, positions=torch.arange(16)[None], cache=cache, slots=torch.tensor([0]))
    cache.copy_prefix(0, 1, 16)
    out = model(tail, positions=torch.arange(16, 21)[None], cache=cache, slots=torch.tensor([1]))
    torch.testing.assert_close(out, model(torch.cat([prefix, tail], 1))[:, 16:], rtol=1e-4, atol=1e-5)


def test_tied_embeddings_and_loss_ignores_masked_targets(model):
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    idx = torch.randint(0, model.config.vocab_size, (2, 10))
    targets = idx.clone()
    targets[:, :5] = IGNORE_INDEX
    logits, loss = model(idx, targets)
    manual = torch.nn.functional.cross_entropy(logits[:, 5:].reshape(-1, logits.size(-1)),
                                               idx[:, 5:].reshape(-1))
    torch.testing.assert_close(loss, manual)


def test_sequence_too_long_is_a_clear_error(model):
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, model.config.block_size + 1, dtype=torch.long))


@pytest.mark.parametrize("bad", [{"n_embd": 65, "n_head": 2}, {"n_layer": 0}, {"dropout": 1.5}])
def test_config_rejects_bad_shapes(bad):
    with pytest.raises(ValueError):
        GPTConfig(**bad)


def test_param_count_matches_the_module():
    config = preset("bench")
    model = GPT(config)
    assert config.num_params() == sum(p.numel() for p in model.parameters())


def test_slice_of_slots_equals_tensor_of_slots(model):
    """The engine passes a slice of consecutive slots (a view, no gather); it must match the tensor path."""
    a = torch.randint(0, model.config.vocab_size, (1, 20))
    b = torch.randint(0, model.config.vocab_size, (1, 9))
    caches = [KVCache.allocate(model.config, n_slots=4) for _ in range(2)]
    outs = []
    for cache, slots in zip(caches, (torch.tensor([1, 2]), slice(1, 3))):
        model(a, positions=torch.arange(20)[None], cache=cache, slots=torch.tensor([1]))
        model(b, positions=torch.arange(9)[None], cache=cache, slots=torch.tensor([2]))
        outs.append(model(torch.tensor([[3], [4]]), positions=torch.tensor([[20], [9]]), cache=cache,
                          slots=slots))
    torch.testing.assert_close(outs[1], outs[0])
    torch.testing.assert_close(outs[1][1, -1], model(torch.cat([b, torch.tensor([[4]])], 1))[0, -1],
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(caches[1].k, caches[0].k)
