"""Shard channels: what `write_channel` writes, `Channel.open` reads back exactly; bad folders fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flywheel.data.shards import Channel, ChannelError, ChannelWriter, token_dtype, write_channel


def test_pretrain_round_trip_across_shard_boundaries(tmp_path, chat_tokenizer, corpus_texts):
    docs = chat_tokenizer.encode_batch(corpus_texts[:40])
    meta = write_channel(tmp_path / "ch", chat_tokenizer, {"train": docs[:30], "val": docs[30:]},
                         kind="pretrain", data_version="unit-v1", shard_tokens=1000)
    channel = Channel.open(tmp_path / "ch")
    assert channel.kind == "pretrain" and channel.data_version == "unit-v1" == meta["data_version"]
    train = channel.split("train")
    assert len(train.shards) > 1, "small shard_tokens must spread the split over several files"
    assert train.shards[0][0].dtype == np.uint16 and train.shards[0][1] is None
    stream = np.concatenate([ids for ids, _ in train.shards])
    expected = np.concatenate([np.append(d, chat_tokenizer.eot_id) for d in docs[:30]])
    assert np.array_equal(stream, expected)
    assert train.tokens == len(expected) and train.documents == 30
    assert channel.tokenizer().to_str() == chat_tokenizer.to_str()
    assert set(channel.split_names) == {"train", "val"}


def test_sft_round_trip_keeps_the_assistant_mask(tmp_path, chat_tokenizer):
    chats = [[{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]
             for i in range(5)]
    pairs = [chat_tokenizer.encode_chat(c) for c in chats]
    write_channel(tmp_path / "sft", chat_tokenizer, {"train": pairs}, kind="sft", data_version="sft-v1",
                  shard_tokens=17)
    split = Channel.open(tmp_path / "sft").split("train")
    ids = np.concatenate([s[0] for s in split.shards])
    mask = np.concatenate([s[1] for s in split.shards])
    expected_ids = np.concatenate([p[0] + [chat_tokenizer.eot_id] for p in pairs])
    expected_mask = np.concatenate([p[1] + [0] for p in pairs])
    assert np.array_equal(ids, expected_ids) and np.array_equal(mask, expected_mask)
    assert mask.sum() > 0 and mask.sum() < len(mask)


def test_writer_counts_empty_documents_and_rejects_bad_ids(tmp_path, chat_tokenizer):
    with ChannelWriter(tmp_path / "c", chat_tokenizer, data_version="v") as writer:
        assert writer.add("train", [1, 2, 3])
        assert not writer.add("train", [])
        with pytest.raises(ValueError, match="outside the tokenizer's vocabulary"):
            writer.add("train", [chat_tokenizer.vocab_size])
        with pytest.raises(ValueError, match="takes no loss mask"):
            writer.add("train", [1], [1])
    assert json.loads((tmp_path / "c" / "shards.json").read_text())["skipped_empty_documents"] == 1


def test_dtype_widens_for_large_vocabularies():
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32


def test_bad_channels_name_the_problem(tmp_path, chat_tokenizer):
    with pytest.raises(ChannelError, match="does not exist"):
        Channel.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChannelError, match="is empty"):
        Channel.open(tmp_path / "empty")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "train_000000.bin").write_bytes(b"\0\0")
    with pytest.raises(ChannelError, match="no shards.json"):
        Channel.open(tmp_path / "loose")

    write_channel(tmp_path / "nodocs", chat_tokenizer, {"train": [[]]}, data_version="v")
    with pytest.raises(ChannelError, match="holds no splits"):
        Channel.open(tmp_path / "nodocs")

    write_channel(tmp_path / "ok", chat_tokenizer, {"train": [[5, 6, 7]] * 10}, data_version="v")
    shard = tmp_path / "ok" / "train_000000.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(ChannelError, match="train_000000.bin has 78 bytes but shards.json records 40 tokens"):
        Channel.open(tmp_path / "ok")
    shard.unlink()
    with pytest.raises(ChannelError, match="train_000000.bin is missing"):
        Channel.open(tmp_path / "ok")
    (tmp_path / "ok" / "shards.json").write_text("{not json")
    with pytest.raises(ChannelError, match="not valid JSON"):
        Channel.open(tmp_path / "ok")
