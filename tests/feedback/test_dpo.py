"""DPO mathematics: loss values by hand, gradient directions, the reference, and learning a toy preference."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from flywheel.feedback.batching import PairEncodingError, collate_pairs, encode_pair
from flywheel.feedback.dpo import chosen_nll, dpo_batch_loss, dpo_loss, pair_logprobs, reference_logprobs
from flywheel.model import GPT, IGNORE_INDEX, preset


def t(*values):
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


def test_loss_matches_hand_computation():
    # h = (-1 - -1.5) - (-2 - -1.5) = 0.5 + 0.5 = 1; β h = 0.5; loss = log(1 + e^-0.5)
    out = dpo_loss(t(-1.0), t(-2.0), t(-1.5), t(-1.5), beta=0.5)
    assert float(out.loss.detach()) == pytest.approx(math.log1p(math.exp(-0.5)), rel=1e-6)
    assert float(out.chosen_rewards[0]) == pytest.approx(0.25)
    assert float(out.rejected_rewards[0]) == pytest.approx(-0.25)
    m = out.metrics()
    assert m["reward_margin"] == pytest.approx(0.5) and m["reward_accuracy"] == 1.0


def test_label_smoothing_matches_hand_computation():
    out = dpo_loss(t(0.0), t(0.0), t(0.0), t(2.0), beta=1.0, label_smoothing=0.2)
    # h = 0 - (0 - 2) = 2: 0.8 * log(1 + e^-2) + 0.2 * log(1 + e^2)
    expected = 0.8 * math.log1p(math.exp(-2)) + 0.2 * math.log1p(math.exp(2))
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-6)


def test_policy_equal_to_reference_gives_log2_and_zero_margin():
    logps = torch.tensor([-3.0, -7.0, -1.0])
    out = dpo_loss(logps, logps - 1, logps, logps - 1, beta=0.1)
    assert float(out.loss) == pytest.approx(math.log(2))
    assert out.metrics()["reward_margin"] == 0.0 and out.metrics()["reward_accuracy"] == 0.5


def test_gradient_raises_chosen_and_lowers_rejected():
    pc, pr = t(-2.0, -4.0), t(-3.0, -1.0)
    dpo_loss(pc, pr, torch.tensor([-2.5, -3.0]), torch.tensor([-2.5, -3.0]), beta=0.3).loss.backward()
    assert (pc.grad < 0).all()  # descent raises the chosen log-probability
    assert (pr.grad > 0).all()  # and lowers the rejected one
    # The pair ranked wrong (the second) gets the larger push.
    assert abs(float(pc.grad[1])) > abs(float(pc.grad[0]))


def test_chosen_nll_is_per_token_and_pushes_chosen_up():
    pc = t(-6.0, -2.0)
    nll = chosen_nll(pc, torch.tensor([3, 1]))
    assert float(nll.detach()) == pytest.approx(8.0 / 4)
    nll.backward()
    assert (pc.grad < 0).all()


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), beta=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), label_smoothing=0.5)


def test_encoding_masks_the_prompt_and_cuts_long_pairs(chat_tokenizer):
    tok = chat_tokenizer
    e = encode_pair(tok, "What is a list?", "A sequence.", [{"role": "assistant", "content": "No."}], 64)
    assert e.chosen[-1] == tok.end_id and e.rejected[-1] == tok.end_id and not e.truncated
    batch = collate_pairs([e], tok.pad_id)
    assert batch.tokens.shape[0] == 2
    n_target = int((batch.targets[0] != IGNORE_INDEX).sum())
    assert n_target == len(e.chosen)  # loss on exactly the answer tokens
    assert int(batch.last[1]) == len(e.prompt) + len(e.rejected) - 1
    long = encode_pair(tok, "word " * 200, "answer " * 200, "short", 64)
    assert long.truncated
    assert len(long.prompt) + len(long.chosen) <= 64 and len(long.prompt) >= 32
    with pytest.raises(PairEncodingError):
        encode_pair(tok, 42, "a", "b", 64)
    with pytest.raises(PairEncodingError):
        encode_pair(tok, "q", [{"role": "user", "content": "a"}], "b", 64)


def test_pair_logprobs_equal_per_sequence_logprobs(chat_tokenizer):
    """Padding a batch changes nothing: each row's log-probability is what it is alone."""
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=chat_tokenizer.vocab_size)).eval()
    pairs = [encode_pair(chat_tokenizer, "Hi", "Hello there, friend.", "Bye", 64),
             encode_pair(chat_tokenizer, "A much longer question here?", "Yes", "No, never.", 64)]
    chosen, rejected = pair_logprobs(model, collate_pairs(pairs, chat_tokenizer.pad_id))
    for i, e in enumerate(pairs):
        alone = collate_pairs([e], chat_tokenizer.pad_id)
        c, r = pair_logprobs(model, alone)
        assert float(chosen[i]) == pytest.approx(float(c[0]), abs=1e-4)
        assert float(rejected[i]) == pytest.approx(float(r[0]), abs=1e-4)


def test_dpo_learns_a_toy_preference(chat_tokenizer, pairs_factory):
    torch.manual_seed(0)
    tok = chat_tokenizer
    reference = GPT(preset("debug", vocab_size=tok.vocab_size))
    policy = copy.deepcopy(reference)
    for p in reference.parameters():
        p.requires_grad_(False)
    train = collate_pairs([encode_pair(tok, **p, max_len=64) for p in pairs_factory(16)], tok.pad_id)
    held = collate_pairs([encode_pair(tok, **p, max_len=64) for p in pairs_factory(8, offset=100)], tok.pad_id)
    ref_train, ref_held = reference_logprobs(reference, train), reference_logprobs(reference, held)

    def held_metrics():
        with torch.no_grad():
            return dpo_batch_loss(policy, held, *ref_held, beta=0.1).metrics()

    before = held_metrics()
    assert before["reward_margin"] == pytest.approx(0.0, abs=1e-5)  # policy == reference at the start
    optimizer = torch.optim.AdamW(policy.parameters(), lr=2e-3)
    for _ in range(8):
        out = dpo_batch_loss(policy, train, *ref_train, beta=0.1)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    after = held_metrics()
    assert after["reward_margin"] > before["reward_margin"] + 0.5
    assert after["reward_accuracy"] == 1.0
    assert after["loss"] < math.log(2) - 0.1
    # The reference is untouched.
    assert torch.equal(reference_logprobs(reference, held)[0], ref_held[0])
