"""Reward model: Bradley–Terry loss by hand, padding-independence, learning a toy preference, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from flywheel.feedback.batching import collate_pairs, encode_pair
from flywheel.feedback.reward import (
    RewardModel,
    bradley_terry_loss,
    load_reward_model,
    save_reward_model,
    score,
)
from flywheel.model import GPT, preset
from flywheel.model.artifact import ArtifactError


def test_bradley_terry_loss_matches_hand_computation():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
    # mean(log(1 + e^-1), log 2)
    expected = (math.log1p(math.exp(-1.0)) + math.log(2)) / 2
    assert float(bradley_terry_loss(chosen, rejected)) == pytest.approx(expected, rel=1e-6)
    c = chosen.clone().requires_grad_(True)
    bradley_terry_loss(c, rejected).backward()
    assert (c.grad < 0).all()


def test_reward_reads_the_last_real_token(chat_tokenizer):
    torch.manual_seed(0)
    rm = RewardModel(GPT(preset("debug", vocab_size=chat_tokenizer.vocab_size))).eval()
    short = encode_pair(chat_tokenizer, "Hi", "Yes.", "No.", 64)
    long = encode_pair(chat_tokenizer, "Hi there, how long can this prompt be?", "Yes indeed, truly.", "No", 64)
    together = rm.pair_rewards(collate_pairs([short, long], chat_tokenizer.pad_id))
    alone = rm.pair_rewards(collate_pairs([short], chat_tokenizer.pad_id))
    assert float(together[0][0]) == pytest.approx(float(alone[0][0]), abs=1e-5)
    assert float(together[1][0]) == pytest.approx(float(alone[1][0]), abs=1e-5)


def test_reward_model_learns_a_toy_preference_and_round_trips(tmp_path, chat_tokenizer, pairs_factory):
    torch.manual_seed(0)
    tok = chat_tokenizer
    rm = RewardModel(GPT(preset("debug", vocab_size=tok.vocab_size)))
    train = collate_pairs([encode_pair(tok, **p, max_len=64) for p in pairs_factory(16)], tok.pad_id)
    held_pairs = pairs_factory(8, offset=100)
    held = collate_pairs([encode_pair(tok, **p, max_len=64) for p in held_pairs], tok.pad_id)
    optimizer = torch.optim.AdamW(rm.parameters(), lr=1e-3)
    with torch.no_grad():
        loss_before = float(bradley_terry_loss(*rm.pair_rewards(held)))
    for _ in range(20):
        loss = bradley_terry_loss(*rm.pair_rewards(train))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    rm.eval()
    with torch.no_grad():
        chosen, rejected = rm.pair_rewards(held)
    assert float(bradley_terry_loss(chosen, rejected)) < loss_before - 0.3
    assert bool((chosen > rejected).all())

    save_reward_model(tmp_path / "rm", rm, tok, version="rm-test", data_version="prefs-x")
    loaded, loaded_tok, meta = load_reward_model(tmp_path / "rm")
    assert meta["objective"] == "reward" and meta["version"] == "rm-test"
    prompts = [p["prompt"] for p in held_pairs]
    scores_chosen = score(loaded, loaded_tok, prompts, [p["chosen"] for p in held_pairs])
    assert scores_chosen == pytest.approx(chosen.tolist(), abs=1e-4)


def test_loading_a_language_model_as_reward_model_is_refused(tiny_artifact):
    with pytest.raises(ArtifactError, match="not a reward model"):
        load_reward_model(tiny_artifact)
