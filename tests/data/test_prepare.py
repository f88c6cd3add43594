"""The whole cleaning job on local folders: counts, curated Parquet, manifest, shards, SFT, dedup across tasks."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from flywheel.data.prepare import CleaningConfig, PrepareError, iter_curated, main, prepare
from flywheel.data.shards import Channel

QUIET = {"log": lambda *_: None}


def curated_rows(out, columns=None):
    return [row for rows in iter_curated(out / "curated", columns) for row in rows]


def test_counts_add_up_and_every_step_did_its_job(prepared):
    out, manifest = prepared
    assert manifest["documents_in"] == manifest["documents_kept"] + sum(manifest["dropped"].values())
    assert json.loads((out / "manifest.json").read_text()) == manifest
    dropped = manifest["dropped"]
    # the dirty sample hits the reader, the normaliser, the quality rules, dedup and moderation
    for reason in ("read.invalid_json", "read.not_an_object", "read.missing_text", "read.empty_file",
                   "normalize.invalid_utf8", "exact_dedup.duplicate", "minhash.near_duplicate"):
        assert dropped.get(reason, 0) >= 1, reason
    assert any(k.startswith("gopher_quality.") for k in dropped)
    assert any(k.startswith("gopher_repetition.") for k in dropped)
    assert any(k.startswith("toxicity.toxic_") for k in dropped)
    assert {"EMAIL", "PHONE", "CREDIT_CARD", "AWS_KEY"} <= set(manifest["pii_masked"])
    clusters = manifest["duplicate_clusters"]
    assert clusters["exact_total"] >= 1 and clusters["near_total"] >= 1
    assert all(c["removed"] for c in clusters["near"])


def test_curated_parquet_has_the_contract_columns(prepared):
    out, manifest = prepared
    rows = curated_rows(out)
    assert len(rows) == manifest["documents_kept"]
    assert {"doc_id", "text", "source", "data_version"} <= set(rows[0])
    assert {r["data_version"] for r in rows} == {manifest["data_version"]}
    assert len({r["doc_id"] for r in rows}) == len(rows)
    texts = "\n".join(r["text"] for r in rows)
    assert "jane.roe@example.com" not in texts and "<EMAIL>" in texts
    assert "worthless idiot" not in texts
    assert "café" in texts and "Ã©" not in texts  # mojibake repaired


def test_output_is_a_training_channel(prepared):
    out, manifest = prepared
    channel = Channel.open(out)
    assert channel.kind == "pretrain" and channel.data_version == manifest["data_version"]
    assert set(channel.split_names) == {"train", "val"}
    tok = channel.tokenizer()
    ids = channel.split("train").shards[0][0]
    assert tok.eot_id in set(ids[:5000].tolist())
    assert manifest["shards"]["splits"]["train"]["documents"] + manifest["shards"]["splits"]["val"]["documents"] \
        == manifest["kinds"]["text"]


def test_same_inputs_same_version_and_refuses_to_overwrite(prepared, demo_raw, tmp_path):
    out, _manifest = prepared
    with pytest.raises(PrepareError, match="already holds"):
        prepare(str(demo_raw), out, CleaningConfig(vocab_size=512), workers=1, **QUIET)
    assert main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2


def test_minhash_across_tasks_removes_the_same_documents_as_one_task(demo_raw, tmp_path):
    cfg = CleaningConfig(vocab_size=300, toxicity=False)
    one = prepare(str(demo_raw), tmp_path / "one", cfg, tasks=1, workers=1, **QUIET)
    many = prepare(str(demo_raw), tmp_path / "many", cfg, tasks=3, workers=1, **QUIET)
    assert many["dropped"] == one["dropped"]
    assert one["dropped"]["minhash.near_duplicate"] >= 1
    kept = [r["doc_id"] for r in curated_rows(tmp_path / "one", ["doc_id"])]
    assert [r["doc_id"] for r in curated_rows(tmp_path / "many", ["doc_id"])] == kept
    assert one["content_hash"] == many["content_hash"]
    removed = lambda m: sorted(d for c in m["duplicate_clusters"]["near"] for d in c["removed"])
    assert removed(one) == removed(many)


def test_chats_make_an_sft_channel(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    chats = [[{"role": "user", "content": f"What is {i} plus {i}? Write to me at u{i}@example.com"},
              {"role": "assistant", "content": f"{i} plus {i} is {2 * i}, as the sum of two equal numbers."}]
             for i in range(40)]
    lines = [json.dumps({"messages": m}) for m in chats] + [json.dumps({"messages": chats[0]})]  # + a duplicate
    (raw / "chats.jsonl").write_text("\n".join(lines) + "\n")
    manifest = prepare(str(raw), tmp_path / "out", CleaningConfig(vocab_size=300, minhash=None), workers=1,
                       **QUIET)
    assert manifest["kind"] == "sft" and manifest["dropped"] == {"exact_dedup.duplicate": 1}
    channel = Channel.open(tmp_path / "out")
    assert channel.kind == "sft"
    _ids, mask = channel.split("train").shards[0]
    assert 0 < int(mask.sum()) < len(mask)
    messages = json.loads(curated_rows(tmp_path / "out", ["messages"])[0]["messages"])
    assert "<EMAIL>" in messages[0]["content"]


def test_an_input_where_nothing_survives(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "empty.jsonl").write_bytes(b"")
    (raw / "junk.jsonl").write_bytes(b"\xff\xfe\n[]\n")
    manifest = prepare(str(raw), tmp_path / "out", CleaningConfig(), workers=1, **QUIET)
    assert manifest["documents_kept"] == 0 and manifest["shards"] is None
    assert manifest["documents_in"] == sum(manifest["dropped"].values()) == 3
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / "out" / "curated").glob("*.parquet")) == 0


def test_the_counts_are_printed_as_catalogue_emf_lines(tmp_path):
    from collections import Counter

    from flywheel.observability.local_sink import parse_emf

    raw = tmp_path / "raw"
    raw.mkdir()
    chats = [json.dumps({"messages": [{"role": "user", "content": f"What is {i} doubled?"},
                                      {"role": "assistant", "content": f"{i} doubled is {2 * i}."}]})
             for i in range(12)]
    (raw / "chats.jsonl").write_text("\n".join(chats + [chats[0], "{not json", "[]"]) + "\n")
    lines = []
    manifest = prepare(str(raw), tmp_path / "out", CleaningConfig(vocab_size=300, minhash=None), workers=1,
                       log=lines.append)
    published = []  # (metric, dimensions, total), one per datum CloudWatch would be sent
    for line in lines:
        for _namespace, datum in parse_emf(line) or []:
            dims = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            published.append((datum["MetricName"], dims, sum(v * c for v, c in zip(datum["Values"], datum["Counts"]))))
    totals = Counter()  # under the service roll-up, what the dashboard reads
    for m, dims, t in published:
        if dims == {"service": "data"}:
            totals[m] += t
    assert totals["DocumentsIn"] == manifest["documents_in"] == 15
    assert totals["DocumentsKept"] == manifest["documents_kept"] == 12
    assert totals["DocumentsDropped"] == sum(manifest["dropped"].values()) == 3
    assert {dims["Reason"]: t for m, dims, t in published if "Reason" in dims} == manifest["dropped"]
    assert manifest["dropped"]["exact_dedup.duplicate"] == 1
