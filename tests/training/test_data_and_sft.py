"""Batches are a function of (seed, step); SFT puts its loss on assistant tokens and nowhere else."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from flywheel.data.shards import Channel
from flywheel.model import GPT, IGNORE_INDEX, preset
from flywheel.model.artifact import load_artifact
from flywheel.training import job
from flywheel.training.data import TrainBatches, validation_batches
from flywheel.training.loop import token_loss_sum

from .conftest import ASSISTANT_TEXT, USER_TEXT, job_args


def test_batches_are_deterministic_and_split_across_ranks(pretrain_channel):
    split = Channel.open(pretrain_channel).split("train")
    whole = TrainBatches(split, block_size=32, batch_size=8, seed=3)
    ranks = [TrainBatches(split, block_size=32, batch_size=4, seed=3, rank=r, world_size=2) for r in (0, 1)]
    x, y = whole.get(5, 1)
    assert x.shape == (8, 32) and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(x, whole.get(5, 1)[0]), "the same (seed, step, micro) gives the same batch"
    assert not torch.equal(x, whole.get(6, 1)[0])
    assert not torch.equal(x, TrainBatches(split, block_size=32, batch_size=8, seed=4).get(5, 1)[0])
    # Two ranks together see exactly the global batch one rank would, each its own half.
    assert torch.equal(torch.cat([r.get(5, 1)[0] for r in ranks]), x)


def test_validation_windows_are_shared_evenly(pretrain_channel):
    split = Channel.open(pretrain_channel).split("val")
    per_rank = [list(validation_batches(split, block_size=32, batch_size=4, max_batches=3, rank=r, world_size=2))
                for r in (0, 1)]
    assert [len(b) for b in per_rank] == [3, 3]
    first = {tuple(x[0].tolist()) for batches in per_rank for x, _ in batches}
    assert len(first) == 6, "ranks validate on different windows"


def test_sft_targets_are_masked_outside_assistant_turns(sft_channel, chat_tokenizer):
    channel = Channel.open(sft_channel)
    split = channel.split("train")
    batches = TrainBatches(split, block_size=48, batch_size=6, seed=0, doc_aligned=True, eot_id=channel.eot_id)
    for shard, offset in batches.positions(0, 0):
        ids, mask = split.shards[shard]
        assert offset == 0 or ids[offset - 1] == channel.eot_id, "SFT windows start at a chat boundary"
    x, y = batches.get(0, 0)
    ids, mask = chat_tokenizer.encode_chat([{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": USER_TEXT},
                                            {"role": "assistant", "content": ASSISTANT_TEXT}])
    stream = np.array(ids + [channel.eot_id] + ids)
    stream_mask = np.array(mask + [0] + mask)
    expected = np.where(stream_mask[1:49] == 1, stream[1:49], IGNORE_INDEX)
    assert torch.equal(x[0], torch.from_numpy(stream[:48]))
    assert torch.equal(y[0], torch.from_numpy(expected))

    # The loss the loop optimises is cross-entropy over exactly those assistant targets.
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=chat_tokenizer.vocab_size))
    logits = model(x)
    keep = y != IGNORE_INDEX
    manual = F.cross_entropy(logits[keep], y[keep], reduction="sum")
    assert torch.allclose(token_loss_sum(model, x, y), manual)
    assert 0 < int(keep.sum()) < y.numel()


def test_sft_job_learns_assistant_turns_only(tmp_path, sft_channel, chat_tokenizer, capsys, monkeypatch):
    """Both turns are fixed, learnable text; only the assistant's may be learned through the mask."""
    for name in ("SM_CHANNEL_VALIDATION", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert job.main(job_args(tmp_path, sft_channel, "--max-steps", "60", "--lr", "3e-3", "--batch-size", "8",
                             "--warmup-steps", "5", "--log-every", "20", "--eval-every", "0",
                             "--checkpoint-every", "0")) == 0
    assert "kind=sft" in capsys.readouterr().out
    artifact = load_artifact(tmp_path / "model")
    assert artifact.meta["training"]["kind"] == "sft"
    assert artifact.meta["data_version"] == "chats-test-v1"

    ids, mask = chat_tokenizer.encode_chat([{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": USER_TEXT},
                                            {"role": "assistant", "content": ASSISTANT_TEXT}])
    x, y = torch.tensor([ids[:-1]]), torch.tensor(ids[1:])
    with torch.no_grad():
        losses = F.cross_entropy(artifact.model(x)[0], y, reduction="none")
    target_mask = torch.tensor(mask[1:], dtype=torch.bool)
    user_start = ids.index(chat_tokenizer.ids["<|user|>"]) + 1  # predicting the user's words
    user_end = ids.index(chat_tokenizer.ids["<|assistant|>"]) - 1
    user_loss = losses[user_start:user_end].mean().item()
    assistant_loss = losses[target_mask].mean().item()
    assert assistant_loss < 1.0, assistant_loss
    assert user_loss > 3.0, user_loss  # never trained on, despite being just as predictable


def test_a_short_validation_split_is_validated_on_shorter_windows(tmp_path, chat_tokenizer):
    from flywheel.data.shards import ChannelError, write_channel

    write_channel(tmp_path / "c", chat_tokenizer, {"train": [[7] * 500], "val": [[5, 6, 7, 8]]}, data_version="v")
    split = Channel.open(tmp_path / "c").split("val")
    [(x, y)] = validation_batches(split, block_size=64, batch_size=8, max_batches=4)
    assert x.tolist() == [[5, 6, 7, 8]] and y.tolist() == [[6, 7, 8, chat_tokenizer.eot_id]]
    try:
        validation_batches(split, block_size=64, batch_size=8, max_batches=4, rank=0, world_size=2)
    except ChannelError as exc:
        assert "too short to validate on (5 tokens for 2 rank(s))" in str(exc)
    else:
        raise AssertionError("one short window cannot be shared by two ranks")
