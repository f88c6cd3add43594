"""Preference building from the lake on the local moto stack: Firehose events in, Parquet + Glue out."""

from __future__ import annotations

import json

import pytest

from flywheel.names import StackNames


@pytest.fixture
def lake(moto_stack):
    """A stack of its own on the session's moto server, so other areas' events never mix with ours."""
    from flywheel.local.stack import ensure_resources

    names = StackNames(project="flywheel", stack="feedback-lake-test")
    ensure_resources(names, moto_stack.endpoint_url, moto_stack.region)
    return names


def put(stack, stream: str, records: list, raw: str = "") -> None:
    data = "".join(json.dumps(r) + "\n" for r in records) + raw
    stack.client("firehose").put_record(DeliveryStreamName=stream, Record={"Data": data.encode()})


def test_lake_to_preferences_and_back(moto_stack, lake):
    from flywheel.feedback.lake import build_from_lake, read_pairs_from_lake, write_to_lake

    interactions = [
        {"completion_id": f"c{i}", "request_id": f"r{i}", "model_version": "v1",
         "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": f"Question {i}?"}],
         "choices": [f"good answer {i}", f"bad answer {i}"], "latency_ms": 12.5}
        for i in range(30)
    ]
    feedback = [{"feedback_id": f"f{i}", "completion_id": f"c{i}", "thumbs": None, "rating": None,
                 "preferred_choice": 0, "correction": None, "choice_index": None} for i in range(30)]
    feedback.append({"feedback_id": "fx", "completion_id": "ghost", "thumbs": "up", "rating": None,
                     "preferred_choice": None, "correction": None, "choice_index": 0})
    put(moto_stack, lake.firehose_interactions, interactions[:15])
    put(moto_stack, lake.firehose_interactions, interactions[15:], raw="{truncated\n")
    put(moto_stack, lake.firehose_feedback, feedback)

    prefs = build_from_lake(lake, heldout_fraction=0.2)
    assert len(prefs.pairs) == 30
    assert prefs.dropped == {"interactions.malformed_json": 1, "feedback.unknown_completion_id": 1}
    assert prefs.pairs.iloc[0]["prompt"][0] == {"role": "system", "content": "Be kind."}

    manifest = write_to_lake(prefs, lake)
    assert manifest["version"] == prefs.version
    stored = json.loads(moto_stack.client("s3").get_object(
        Bucket=lake.bucket, Key=f"preferences/manifests/{prefs.version}.json")["Body"].read())
    assert stored["dropped"] == {"feedback.unknown_completion_id": 1, "interactions.malformed_json": 1}

    back = read_pairs_from_lake(lake, prefs.version)
    assert sorted(back["pair_id"]) == sorted(prefs.pairs["pair_id"])
    row = back.set_index("pair_id").loc[prefs.pairs.iloc[0]["pair_id"]]
    assert [dict(m) for m in row["chosen"]] == prefs.pairs.iloc[0]["chosen"]
    assert set(back["split"]) <= {"train", "heldout"}

    # Writing the same version again replaces its partition: no duplicated rows.
    write_to_lake(prefs, lake)
    assert len(read_pairs_from_lake(lake, prefs.version)) == 30
    glue = moto_stack.client("glue")
    tables = {t["Name"] for t in glue.get_tables(DatabaseName=lake.glue_database)["TableList"]}
    assert {"preferences", "interactions", "feedback"} <= tables
    partitions = glue.get_partitions(DatabaseName=lake.glue_database, TableName="preferences")["Partitions"]
    assert [p["Values"] for p in partitions] == [[prefs.version]]


def test_preferences_command_writes_a_channel(moto_stack, lake, tmp_path, monkeypatch):
    from flywheel.feedback.channel import read_pairs
    from flywheel.feedback.lake import main

    put(moto_stack, lake.firehose_interactions, [{"completion_id": "k1", "request_id": "r",
                                                  "messages": [{"role": "user", "content": "Hi"}],
                                                  "choices": ["Hello!", "Go away."]}])
    put(moto_stack, lake.firehose_feedback, [{"completion_id": "k1", "preferred_choice": 0}])
    monkeypatch.setenv("FLYWHEEL_STACK", lake.stack)
    assert main(["--out", str(tmp_path / "channel"), "--heldout-fraction", "0"]) == 0
    channel = read_pairs(tmp_path / "channel")
    assert channel.version.startswith("prefs-")
    assert any(r["chosen"] == [{"role": "assistant", "content": "Hello!"}] for r in channel.train)
