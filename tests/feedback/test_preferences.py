"""Preference building from interaction and feedback tables: joins, TRL formats, drops, split, version."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flywheel.feedback.preferences import (
    PreferenceDataError,
    build_preferences,
    prompt_hash,
    split_of,
    to_jsonl,
)


def interaction(cid, question, choices, **extra):
    return {"completion_id": cid, "request_id": f"req-{cid}", "model_version": "m1",
            "messages": [{"role": "user", "content": question}], "choices": choices, **extra}


@pytest.fixture
def interactions():
    return pd.DataFrame([
        interaction("c1", "What is 2+2?", ["4", "5"]),
        interaction("c2", "Capital of France?", ["Paris"]),
        interaction("c3", "Capital of France?", ["Lyon"]),
        interaction("c4", "Name a colour.", ["blue"]),
        interaction("c5", "Name a colour.", ["seven"]),
        interaction("c6", "Spell cat.", ["kat"]),
    ])


def fb(cid, **signal):
    return {"completion_id": cid, **signal}


def test_preferred_choice_makes_n_minus_one_pairs_in_trl_format(interactions):
    three = pd.concat([interactions, pd.DataFrame([interaction("c9", "Pick", ["a", "b", "c"])])])
    prefs = build_preferences(three, pd.DataFrame([fb("c9", preferred_choice=1)]), heldout_fraction=0.0)
    pairs = prefs.pairs
    assert len(pairs) == 2
    assert set(pairs["rejected"].map(lambda m: m[0]["content"])) == {"a", "c"}
    row = pairs.iloc[0]
    assert row["prompt"] == [{"role": "user", "content": "Pick"}]
    assert row["chosen"] == [{"role": "assistant", "content": "b"}]
    assert row["source"] == "preferred_choice"
    assert row["chosen_completion_id"] == row["rejected_completion_id"] == "c9"
    assert row["request_id"] == "req-c9"
    assert not prefs.dropped


def test_ratings_of_different_answers_to_one_prompt_make_a_pair(interactions):
    feedback = pd.DataFrame([fb("c2", rating=5), fb("c3", rating=2)])
    prefs = build_preferences(interactions, feedback, heldout_fraction=0.0)
    assert len(prefs.pairs) == 1
    row = prefs.pairs.iloc[0]
    assert (row["chosen"][0]["content"], row["rejected"][0]["content"]) == ("Paris", "Lyon")
    assert (row["chosen_completion_id"], row["rejected_completion_id"]) == ("c2", "c3")
    assert row["source"] == "rating"


def test_equal_ratings_make_no_pair(interactions):
    prefs = build_preferences(interactions, pd.DataFrame([fb("c2", rating=3), fb("c3", rating=3.0)]))
    assert prefs.pairs.empty and not prefs.dropped


def test_thumbs_give_unpaired_labels_and_a_pair_when_they_differ(interactions):
    feedback = pd.DataFrame([fb("c4", thumbs="up"), fb("c5", thumbs="down"), fb("c6", thumbs="down")])
    prefs = build_preferences(interactions, feedback, heldout_fraction=0.0)
    assert len(prefs.unpaired) == 3
    labels = dict(zip(prefs.unpaired["completion"].map(lambda m: m[0]["content"]), prefs.unpaired["label"]))
    assert labels == {"blue": True, "seven": False, "kat": False}
    assert len(prefs.pairs) == 1  # c6's prompt has no liked answer to pair with
    assert prefs.pairs.iloc[0]["chosen"][0]["content"] == "blue"
    assert prefs.pairs.iloc[0]["source"] == "thumbs"


def test_correction_becomes_sft_example_and_pair(interactions):
    prefs = build_preferences(interactions, pd.DataFrame([fb("c6", correction="cat")]), heldout_fraction=0.0)
    assert prefs.sft.iloc[0]["messages"] == [{"role": "user", "content": "Spell cat."},
                                             {"role": "assistant", "content": "cat"}]
    assert prefs.pairs.iloc[0]["chosen"][0]["content"] == "cat"
    assert prefs.pairs.iloc[0]["rejected"][0]["content"] == "kat"
    no_pairs = build_preferences(interactions, pd.DataFrame([fb("c6", correction="cat")]),
                                 pairs_from_corrections=False)
    assert no_pairs.pairs.empty and len(no_pairs.sft) == 1


def test_every_dropped_record_is_counted_with_its_reason(interactions):
    bad = pd.DataFrame([
        fb("nope", thumbs="up"),                     # unknown completion
        fb("c1", preferred_choice=2),                # only 2 choices
        fb("c2", preferred_choice=0),                # one choice: nothing to compare
        fb("c1", thumbs="sideways"),
        fb("c1", rating=9),
        fb("c1", correction="   "),
        fb("c1"),                                    # no signal
        fb("c1", thumbs="up", rating=4),             # two signals
        fb("c1", thumbs="up", choice_index=7),       # thumbs on a choice that does not exist
    ])
    broken_inter = pd.concat([interactions, pd.DataFrame([
        interaction("c1", "dup", ["x"]),             # duplicate completion id: first kept
        {"completion_id": "c7", "messages": "not json", "choices": ["x"]},
        {"completion_id": "c8", "messages": [{"role": "user", "content": "q"}], "choices": None},
        {"completion_id": None, "prompt": "q", "choices": ["x"]},
    ])])
    prefs = build_preferences(broken_inter, bad)
    assert dict(prefs.dropped) == {
        "feedback.unknown_completion_id": 1, "feedback.invalid_choice_index": 2,
        "feedback.preferred_choice_needs_two_choices": 1, "feedback.invalid_thumbs": 1,
        "feedback.invalid_rating": 1, "feedback.empty_correction": 1, "feedback.no_signal": 1,
        "feedback.multiple_signals": 1, "interactions.duplicate_completion_id": 1,
        "interactions.bad_messages": 1, "interactions.bad_choices": 1,
        "interactions.missing_completion_id": 1,
    }
    assert prefs.pairs.empty and prefs.unpaired.empty and prefs.sft.empty
    assert prefs.manifest()["dropped"] == dict(sorted(prefs.dropped.items()))


def test_duplicates_are_removed_and_counted(interactions):
    feedback = pd.DataFrame([
        {"feedback_id": "f1", **fb("c1", preferred_choice=0)},
        {"feedback_id": "f1", **fb("c1", preferred_choice=0)},   # redelivered by Firehose
        {"feedback_id": "f2", **fb("c1", preferred_choice=0)},   # a second user, same verdict
        fb("c4", thumbs="up"), fb("c4", thumbs="up"),            # no id: exact repeat
    ])
    prefs = build_preferences(interactions, feedback)
    assert len(prefs.pairs) == 1 and len(prefs.unpaired) == 1
    assert prefs.dropped == {"feedback.duplicate": 2, "pairs.duplicate": 1}


def test_contradictory_preferences_are_dropped(interactions):
    feedback = pd.DataFrame([fb("c1", preferred_choice=0), fb("c1", preferred_choice=1)])
    prefs = build_preferences(interactions, feedback)
    assert prefs.pairs.empty
    assert prefs.dropped["pairs.contradictory"] == 2


def test_split_is_by_prompt_and_deterministic():
    rows, feedback = [], []
    for i in range(200):
        q = f"question {i % 50}"  # 50 prompts, each answered 4 times
        rows.append(interaction(f"c{i}", q, [f"good {i}", f"bad {i}"]))
        feedback.append(fb(f"c{i}", preferred_choice=0))
    prefs = build_preferences(pd.DataFrame(rows), pd.DataFrame(feedback), heldout_fraction=0.2)
    by_prompt = prefs.pairs.groupby("prompt_hash")["split"].nunique()
    assert (by_prompt == 1).all()  # a prompt never lands in both
    n_heldout = prefs.pairs.drop_duplicates("prompt_hash")["split"].eq("heldout").sum()
    assert 3 <= n_heldout <= 20  # ~10 of 50 prompts
    again = build_preferences(pd.DataFrame(rows[::-1]), pd.DataFrame(feedback[::-1]), heldout_fraction=0.2)
    assert again.version == prefs.version
    pd.testing.assert_frame_equal(again.pairs, prefs.pairs)
    other = build_preferences(pd.DataFrame(rows), pd.DataFrame(feedback), heldout_fraction=0.2, salt="x")
    assert other.version != prefs.version
    assert split_of(prompt_hash([{"role": "user", "content": "q"}]), 0.0) == "train"
    with pytest.raises(ValueError):
        split_of("abc", 1.0)


def test_parquet_and_json_shaped_columns_are_accepted():
    rows = pd.DataFrame([{"completion_id": "a", "prompt": "hello",
                          "choices": np.array([{"index": 0, "message": {"content": "hi"}},
                                               {"index": 1, "message": {"content": "yo"}}], dtype=object)},
                         {"completion_id": "b", "choices": json.dumps(["x", "y"]),
                          "messages": json.dumps([{"role": "user", "content": "hey"}])}])
    feedback = pd.DataFrame([{"completion_id": "a", "preferred_choice": 1.0, "rating": np.nan},
                             {"completion_id": "b", "preferred_choice": np.nan, "rating": 4}])
    prefs = build_preferences(rows, feedback, heldout_fraction=0.0)
    assert prefs.pairs.iloc[0]["chosen"][0]["content"] == "yo"
    assert prefs.pairs.iloc[0]["prompt"] == [{"role": "user", "content": "hello"}]
    assert prefs.inputs == {"interactions": 2, "feedback": 2, "feedback_used": 2}


def test_missing_key_column_is_a_clear_error(interactions):
    with pytest.raises(PreferenceDataError, match="completion_id"):
        build_preferences(interactions, pd.DataFrame([{"thumbs": "up"}]))


def test_manifest_and_jsonl(tmp_path, interactions):
    prefs = build_preferences(interactions, pd.DataFrame([fb("c1", preferred_choice=1), fb("c4", thumbs="up")]),
                              heldout_fraction=0.0)
    manifest = prefs.manifest()
    assert manifest["version"] == prefs.version and prefs.version.startswith("prefs-")
    assert manifest["pairs"] == {"train": 1, "heldout": 0} and manifest["unpaired"]["train"] == 1
    assert manifest["pair_sources"] == {"preferred_choice": 1}
    path = tmp_path / "pairs.jsonl"
    assert to_jsonl(prefs.pairs, path, ["prompt", "chosen", "rejected"]) == 1
    record = json.loads(path.read_text())
    assert record["chosen"] == [{"role": "assistant", "content": "5"}]
