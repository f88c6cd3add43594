"""The cleaning job on several SageMaker Processing "instances" meeting on S3 (a real moto server).

Each instance is a separate process started the way the Processing container starts the job:
`python training_jobs/prepare_data.py` with its own resourceconfig.json (`current_host` differs, the
`hosts` list is the same), all reading the same raw prefix of the emulated lake bucket and sharing one
s3:// work dir. The curated result instance 0 gathers must be the one a single instance produces on
the same input: the same kept doc ids in the same order, the same content hash and the same drops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ENTRY = Path(__file__).resolve().parents[2] / "training_jobs" / "prepare_data.py"
HOSTS = ["algo-1", "algo-2"]
TIMEOUT_S = 300


def _upload(client, bucket: str, folder: Path, prefix: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}{path.relative_to(folder).as_posix()}")


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    # Output to a file, not a pipe: nobody reads a pipe while the processes wait on each other.
    return subprocess.Popen([sys.executable, str(ENTRY), *args], env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def _curated_rows(channel: Path) -> list[tuple]:
    from flywheel.data.prepare import iter_curated

    return [(r["doc_id"], r["content_hash"], r["dup_cluster"])
            for rows in iter_curated(channel / "curated", ["doc_id", "content_hash", "dup_cluster"])
            for r in rows]


def test_two_instances_on_s3_keep_what_one_instance_keeps(moto_stack, demo_raw, tmp_path):
    bucket = moto_stack.names.bucket
    run = uuid.uuid4().hex[:8]
    raw = f"s3://{bucket}/raw/multihost-{run}/"
    _upload(moto_stack.client("s3"), bucket, demo_raw, f"raw/multihost-{run}/")
    # Where the pipeline puts a multi-instance run's shared work dir: the shards zone, per execution.
    work_prefix = moto_stack.names.zone_prefix("shards") + f"work/multihost-{run}"
    work = f"s3://{bucket}/{work_prefix}"

    # The stack's variables (endpoint, credentials, region) reach the children; FLYWHEEL_STACK is left
    # out so neither run publishes to the lake (both would publish the same data version).
    env = {**os.environ, **moto_stack.env()}
    env.pop("FLYWHEEL_STACK", None)
    common = ["--input", raw, "--workers", "1", "--vocab-size", "300"]

    procs = {}
    for i, host in enumerate(HOSTS):
        config = tmp_path / f"resourceconfig-{host}.json"
        config.write_text(json.dumps({"current_host": host, "hosts": HOSTS,
                                      "network_interface_name": "eth0"}))
        procs[host] = _start([*common, "--tasks", "3", "--work-dir", work, "--output", str(tmp_path / host)],
                             {**env, "FLYWHEEL_RESOURCE_CONFIG": str(config)}, tmp_path / f"{host}.log")
    # The reference: one instance, one task, a local work dir (no resourceconfig: a single host).
    procs["single"] = _start([*common, "--tasks", "1", "--output", str(tmp_path / "single")],
                             {**env, "FLYWHEEL_RESOURCE_CONFIG": str(tmp_path / "absent.json")},
                             tmp_path / "single.log")
    try:
        codes = {name: p.wait(timeout=TIMEOUT_S) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    assert codes == {name: 0 for name in procs}, logs

    # Instance 1 ran its ranks only; instance 0 wrote the manifest and the shard channel.
    assert not (tmp_path / "algo-2" / "manifest.json").exists()
    assert "instance 0 writes the manifest" in logs["algo-2"]
    multi = json.loads((tmp_path / "algo-1" / "manifest.json").read_text())
    single = json.loads((tmp_path / "single" / "manifest.json").read_text())

    # The stages met on S3: every rank's completion marker is in the shared work dir, from both hosts
    # (ranks 0-1 of a 3-task stage are instance 0's, rank 2 instance 1's; buckets split 7/7).
    s3 = moto_stack.client("s3")
    def markers(stage):
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{work_prefix}/logs/{stage}/completions/")
        return sorted(o["Key"].rsplit("/", 1)[1] for o in listing.get("Contents", []))
    assert markers("clean") == ["00000", "00001", "00002"]
    assert markers("minhash_buckets") == [f"{r:05d}" for r in range(14)]
    assert markers("minhash_cluster") == ["00000"]
    assert markers("minhash_filter") == ["00000", "00001", "00002"]

    # The dedup stages really had work to do across ranks, and the counts balance.
    assert single["dropped"].get("exact_dedup.duplicate", 0) > 0
    assert single["dropped"].get("minhash.near_duplicate", 0) > 0
    assert multi["documents_in"] == multi["documents_kept"] + sum(multi["dropped"].values())

    for key in ("data_version", "documents_in", "documents_kept", "dropped", "pii_masked", "content_hash",
                "characters_kept", "kinds"):
        assert multi[key] == single[key], key
    assert multi["tasks"] == 3 and single["tasks"] == 1
    assert multi["duplicate_clusters"] == single["duplicate_clusters"]
    # Row by row: the same kept documents, in the same order, with the same near-duplicate cluster ids.
    rows = _curated_rows(tmp_path / "algo-1")
    assert rows and rows == _curated_rows(tmp_path / "single")
    assert any(cluster >= 0 for _, _, cluster in rows)
    assert multi["shards"]["splits"] == single["shards"]["splits"]


@pytest.mark.parametrize("argv, message", [
    (["--hosts", "2", "--host-index", "0"], "work-dir"),
    (["--hosts", "2", "--host-index", "2", "--work-dir", "s3://b/w"], "host-index"),
])
def test_several_instances_are_checked_before_any_work(demo_raw, tmp_path, capsys, argv, message):
    from flywheel.data.prepare import main

    assert main(["--input", str(demo_raw), "--output", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()
