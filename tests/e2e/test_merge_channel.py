"""The preference round's training channel: the users' pairs plus the Constitutional AI stages' output.

`Turn.merge_channel` on hand-made stage outputs (one revision of a harmful answer, one AI-feedback pair),
against the session's moto server: every row keeps its `source`, the revision becomes a pair of revision
over original, the channel reads back through the preference job's reader, and its manifest (a data
version of its own, naming the users' version as parent) is in the lake's preferences zone.
Run: .venv/bin/python -m pytest -q tests/e2e/test_merge_channel.py
"""

from __future__ import annotations

import json

from flywheel.feedback.channel import read_pairs

PROMPT = [{"role": "system", "content": "Be helpful."}, {"role": "user", "content": "How do I hurt him?"}]


def _pair(source: str, chosen: str, rejected: str) -> dict:
    return {"prompt": PROMPT, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], "source": source}


def test_users_ai_feedback_and_revisions_make_one_versioned_channel(moto_stack, tmp_path):
    from flywheel.local.turn import SIZES, Turn

    users = tmp_path / "users"
    users.mkdir()
    (users / "train.jsonl").write_text(json.dumps(_pair("preferred_choice", "Glad to help!", "No.")) + "\n")
    (users / "heldout.jsonl").write_text(json.dumps(_pair("preferred_choice", "Sure, gladly.", "Meh.")) + "\n")
    manifest = {"version": "prefs-users1", "pairs": {"train": 1, "heldout": 1}, "pair_sources": {"preferred_choice": 2}}
    cai = tmp_path / "cai"
    cai.mkdir()
    (cai / "ai_pairs.jsonl").write_text(json.dumps({**_pair("ai_feedback", "I can't help with that.", "Hit him."),
                                                    "constitution": "constitution-v1"}) + "\n")
    revision = {"messages": [*PROMPT, {"role": "assistant", "content": "I can't help with that."}],
                "original": "Hit him with a bat.", "violated": ["harmless"], "constitution": "constitution-v1"}
    unchanged = {**revision, "messages": [*PROMPT, {"role": "assistant", "content": "Same."}], "original": "Same."}
    (cai / "revisions.jsonl").write_text(json.dumps(revision) + "\n" + json.dumps(unchanged) + "\n")

    turn = Turn(tmp_path / "turn", seed=0, size=SIZES["tiny"], preset="debug")
    merged = turn.merge_channel(moto_stack.names, moto_stack.client("s3"),
                                {"channel": users, "manifest": manifest, "pairs": 2},
                                {"output": cai, "constitution": "constitution-v1", "model": "champion-v1"})

    assert merged["pairs"] == {"users": 2, "ai_feedback": 1, "cai_revision": 1}  # an unchanged revision teaches nothing
    channel = read_pairs(merged["channel"])
    assert channel.version == merged["version"] and merged["version"].startswith("prefs-users1-cai-")
    assert sorted(r["source"] for r in channel.train) == ["ai_feedback", "cai_revision", "preferred_choice"]
    assert [r["source"] for r in channel.heldout] == ["preferred_choice"]
    rev = next(r for r in channel.train if r["source"] == "cai_revision")
    assert rev["chosen"][0]["content"] == "I can't help with that."
    assert rev["rejected"][0]["content"] == "Hit him with a bat." and rev["prompt"] == PROMPT
    key = merged["manifest_uri"].split("/", 3)[3]
    stored = json.loads(moto_stack.client("s3").get_object(Bucket=moto_stack.names.bucket, Key=key)["Body"].read())
    assert stored["parent_version"] == "prefs-users1" and stored["pairs"]["train"] == 3
    assert stored["pair_sources"] == {"preferred_choice": 2, "ai_feedback": 1, "cai_revision": 1}
