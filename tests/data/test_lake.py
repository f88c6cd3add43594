"""The lake on a real moto server: raw → curated Parquet in Glue + manifest + shards; versions; lineage."""

from __future__ import annotations

import json

import pytest

from flywheel.data.lake import Lake, LakeError
from flywheel.data.shards import Channel

PARAGRAPH = ("The river runs past the old mill and under the stone bridge, where the children of the village "
             "gather on summer evenings to watch the boats come home with the day's catch and the light fade.")


@pytest.fixture(scope="module")
def published(moto_stack, corpus_texts, tmp_path_factory):
    """The job run through its CLI with --lake-stack: (lake, output folder, manifest)."""
    from flywheel.data.prepare import main

    raw = tmp_path_factory.mktemp("lake_raw")
    with (raw / "docs.jsonl").open("w") as f:
        for text in corpus_texts[:60]:
            f.write(json.dumps({"text": text}) + "\n")
        for _ in range(2):  # one exact duplicate
            f.write(json.dumps({"text": PARAGRAPH}) + "\n")
        f.write("not json\n")
    out = tmp_path_factory.mktemp("lake_out") / "channel"
    assert main(["--input", str(raw), "--output", str(out), "--workers", "1", "--tasks", "2",
                 "--vocab-size", "300", "--name", "stdlib", "--lake-stack", moto_stack.names.stack]) == 0
    return Lake(moto_stack.names), out, json.loads((out / "manifest.json").read_text())


def test_curated_rows_land_in_the_glue_table_by_version(published, moto_stack):
    import boto3

    lake, _out, manifest = published
    version = manifest["data_version"]
    assert version.startswith("stdlib-")
    glue = boto3.client("glue")
    parts = glue.get_partitions(DatabaseName=moto_stack.names.glue_database,
                                TableName=moto_stack.names.table("curated"))["Partitions"]
    assert [version] in [p["Values"] for p in parts]
    df = lake.read_version(version)
    assert len(df) == manifest["documents_kept"] > 0
    assert set(df["data_version"]) == {version}
    assert {"doc_id", "text", "source"} <= set(df.columns)


def test_manifest_and_versions_are_recorded(published):
    lake, _out, manifest = published
    stored = lake.manifest(manifest["data_version"])
    assert manifest["data_version"] in lake.versions()
    assert stored["documents_in"] == stored["documents_kept"] + sum(stored["dropped"].values())
    assert stored["dropped"]["exact_dedup.duplicate"] == 1 and stored["dropped"]["read.invalid_json"] == 1
    assert stored["inputs"]["files"][0]["path"] == "docs.jsonl" and stored["content_hash"]
    with pytest.raises(LakeError, match="no data version"):
        lake.manifest("nope-000")


def test_shards_in_the_lake_are_a_channel(published, tmp_path):
    lake, out, manifest = published
    channel = Channel.open(lake.fetch_channel(manifest["data_version"], tmp_path / "fetched"))
    assert channel.data_version == manifest["data_version"]
    assert channel.meta["splits"] == Channel.open(out).meta["splits"]


def test_lineage_from_a_trained_model_to_its_data(published, tmp_path):
    import torch

    from flywheel.model import GPT, preset
    from flywheel.model.artifact import save_artifact

    lake, out, manifest = published
    tokenizer = Channel.open(out).tokenizer()
    torch.manual_seed(0)
    model = GPT(preset("debug", vocab_size=tokenizer.vocab_size))
    save_artifact(tmp_path / "model", model, tokenizer, version="m-1", data_version=manifest["data_version"])
    trace = lake.lineage(tmp_path / "model")
    assert trace["model_version"] == "m-1" and trace["data_version"] == manifest["data_version"]
    assert trace["content_hash"] == manifest["content_hash"]
    assert trace["curated_uri"].endswith(f"data_version={manifest['data_version']}/")
    rows = lake.read_version(trace["data_version"], columns=["doc_id"])
    assert len(rows) == trace["documents_kept"]
    with pytest.raises(LakeError, match="no data_version"):
        lake.lineage({"version": "untraceable"})


def test_other_zones_take_partitioned_rows(published):
    import pandas as pd

    lake, _, _ = published
    lake.append("feedback", pd.DataFrame({"completion_id": ["c1", "c2"], "feedback_id": ["f1", "f2"],
                                          "thumbs": ["up", "down"], "dt": ["2026-11-27", "2026-11-28"]}))
    got = lake.read("feedback", dt="2026-11-28")
    assert got["completion_id"].tolist() == ["c2"]
    with pytest.raises(ValueError, match="partition"):
        lake.append("feedback", pd.DataFrame({"completion_id": ["c3"]}))


@pytest.mark.slow
def test_lineage_from_the_training_job_itself(published, tmp_path):
    """The real training job on the channel as the data job left it, then back from its model to the data."""
    import subprocess
    import sys
    from pathlib import Path

    lake, out, manifest = published
    train = Path(__file__).resolve().parents[2] / "training_jobs" / "train.py"
    subprocess.run([sys.executable, str(train), "--preset", "debug", "--max-steps", "2", "--warmup-steps", "1",
                    "--train-dir", str(out), "--model-dir", str(tmp_path / "model"),
                    "--output-data-dir", str(tmp_path / "o"), "--checkpoint-dir", str(tmp_path / "ckpt")],
                   check=True, timeout=600)
    trace = lake.lineage(tmp_path / "model")
    assert trace["data_version"] == manifest["data_version"]
    assert trace["model_version"] and manifest["data_version"] in trace["model_version"]
