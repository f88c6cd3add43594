"""Drift: synthetic captures in SageMaker's data-capture format against training-data baselines."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel.observability.drift import (
    DriftError,
    capture_record,
    drift,
    js_divergence,
    prompt_stats,
    psi,
    read_captures,
    run,
)

ROOT = Path(__file__).resolve().parents[2]
KITCHEN = ["bread", "flour", "oven", "yeast", "knead", "dough", "bake", "crust", "butter", "sugar", "salt", "water", "recipe", "loaf", "rise", "warm", "minutes", "slice", "pan", "heat", "mix", "bowl"]
NETWORK = ["router", "packet", "latency", "socket", "kernel", "tcp", "firewall", "bandwidth", "protocol", "subnet", "gateway", "dns", "cache", "server", "client", "handshake", "port", "tunnel", "vlan", "switch"]
TOXIC = "You worthless idiot, I will kill you and your whole family."


def prompts(vocab, n, lo, hi, seed, toxic_share=0.0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < toxic_share:
            out.append(TOXIC)
        else:
            out.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(lo, hi))))
    return out


def write_captures(folder: Path, texts, *, encoding="JSON", extra_lines=()):
    """Captures laid out as SageMaker writes them: <endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl."""
    hour = folder / "flywheel-test-endpoint" / "AllTraffic" / "2026" / "11" / "27" / "23"
    hour.mkdir(parents=True, exist_ok=True)
    with open(hour / "capture-0.jsonl", "w") as f:
        for i, text in enumerate(texts):
            body = {"messages": [{"role": "system", "content": "Be helpful."}, {"role": "user", "content": text}],
                    "max_tokens": 16}
            record = capture_record(body, {"choices": [{"text": "ok"}]}, event_id=f"e{i}",
                                    inference_time="2026-11-27T23:00:00Z", encoding=encoding)
            f.write(json.dumps(record) + "\n")
        f.writelines(line + "\n" for line in extra_lines)
    return folder


def write_curated(folder: Path, texts) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts}), folder / "part-0.parquet")
    return folder


def test_scores_are_bounded_and_zero_for_identical_inputs():
    counts = {"a": 3, "b": 1}
    assert js_divergence(counts, counts) == 0
    assert js_divergence({"a": 1}, {"b": 1}) == pytest.approx(1.0)
    assert psi([1, 2, 3, 4, 5] * 20, [1, 2, 3, 4, 5] * 20) == pytest.approx(0.0)
    assert psi([1, 2, 3, 4, 5] * 20, [50] * 100) > 1.0


def test_same_distribution_low_shifted_high(tmp_path):
    base = write_curated(tmp_path / "curated", prompts(KITCHEN, 400, 5, 20, seed=1))
    same = write_captures(tmp_path / "same", prompts(KITCHEN, 300, 5, 20, seed=2))
    shifted = write_captures(tmp_path / "shifted", prompts(NETWORK, 300, 30, 60, seed=3))
    lines = []
    low = run([same], base, emit=lines.append)
    high = run([shifted], base, emit=lines.append)
    assert low["drift_score"] < 0.1, low
    assert high["drift_score"] > 0.5 and high["token_js"] > 0.9 and high["length_shift"] > 0.9, high
    # Each run printed one DriftScore EMF line carrying its parts as searchable properties.
    docs = [json.loads(line) for line in lines]
    assert [d["DriftScore"] for d in docs] == [low["drift_score"], high["drift_score"]]
    assert docs[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "ModelVersion"], ["service"]]


def test_only_lengths_or_only_categories_move_the_score(tmp_path):
    base = write_curated(tmp_path / "curated", prompts(KITCHEN, 400, 5, 20, seed=1))
    longer = run([write_captures(tmp_path / "long", prompts(KITCHEN, 300, 40, 80, seed=4))], base, emit=str)
    assert longer["length_shift"] > 0.5 and longer["token_js"] < 0.1
    toxic = run([write_captures(tmp_path / "toxic", prompts(KITCHEN, 300, 5, 20, seed=5, toxic_share=0.4))],
                base, emit=str)
    assert toxic["category_shift"] > 0.25 and toxic["drift_score"] >= toxic["category_shift"]
    assert max(toxic["live_category_rates"].values()) > 0.25


def test_malformed_capture_lines_are_counted_and_skipped(tmp_path):
    good = prompts(KITCHEN, 50, 5, 20, seed=6)
    bad = ["{not json", json.dumps({"captureData": {}}), json.dumps([1, 2]),
           json.dumps({"captureData": {"endpointInput": {"data": "AAA=", "encoding": "BASE64"}}}),
           json.dumps({"captureData": {"endpointInput": {"data": "x,y", "encoding": "CSV"}}}),
           json.dumps({"captureData": {"endpointInput": {"data": json.dumps({"max_tokens": 3}), "encoding": "JSON"}}})]
    folder = write_captures(tmp_path / "cap", good, encoding="BASE64", extra_lines=bad)
    read = read_captures([folder])
    assert read.prompts == good
    assert sum(read.skipped.values()) == len(bad)
    assert read.skipped["line is not JSON"] == 1 and read.skipped["unsupported encoding CSV"] == 1
    empty = write_captures(tmp_path / "empty", [], extra_lines=bad[:2])
    with pytest.raises(DriftError, match="no usable prompts"):
        run([empty], tmp_path, emit=str)


def test_token_distribution_with_the_models_tokenizer_and_a_shard_channel(tmp_path, chat_tokenizer, corpus_texts):
    from flywheel.data.shards import write_channel

    cut = len(corpus_texts) * 3 // 5
    train = corpus_texts[:cut]
    channel = tmp_path / "channel"
    write_channel(channel, chat_tokenizer, {"train": [chat_tokenizer.encode(t) for t in train]},
                  kind="pretrain", data_version="test")
    same = write_captures(tmp_path / "same", corpus_texts[cut:])
    shifted = write_captures(tmp_path / "shifted", prompts(NETWORK, 200, 5, 20, seed=7))
    low = run([same], channel, tokenizer=chat_tokenizer, emit=str)
    high = run([shifted], channel, tokenizer=chat_tokenizer, emit=str)
    assert low["unit"] == "tokens" and low["baseline_texts"] == cut
    assert low["token_js"] < high["token_js"] and high["drift_score"] > 0.25 > low["token_js"]
    with pytest.raises(DriftError, match="same tokenizer"):
        drift(prompt_stats(["a b"], chat_tokenizer), prompt_stats(["a b"]))


def test_entry_point_publishes_drift_score_to_cloudwatch(tmp_path, moto_stack):
    from flywheel.observability.local_sink import read_back

    base = write_curated(tmp_path / "curated", prompts(KITCHEN, 200, 5, 20, seed=1))
    shifted = write_captures(tmp_path / "cap", prompts(NETWORK, 100, 30, 60, seed=3), extra_lines=["oops"])
    since = time.time()
    done = subprocess.run([sys.executable, str(ROOT / "training_jobs" / "drift.py"), "--captures", str(shifted),
                           "--baseline", str(base), "--model-version", "v-drift", "--output", str(tmp_path / "out"),
                           "--publish"], env={**moto_stack.env(), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["skipped"] == {"line is not JSON": 1} and report["prompts"] == 100
    assert (tmp_path / "out" / "baseline.json").is_file()
    got = read_back(["DriftScore"], since, time.time() + 1, client=moto_stack.client("cloudwatch"))
    assert got["DriftScore"]["Maximum"] == pytest.approx(report["drift_score"])
    # The next run reads the kept baseline statistics instead of the training data, with the same answer.
    again = run([shifted], tmp_path / "out" / "baseline.json", emit=str)
    assert again["drift_score"] == pytest.approx(report["drift_score"])
    # Nothing to score: exit 2 with the reason.
    none = subprocess.run([sys.executable, str(ROOT / "training_jobs" / "drift.py"), "--captures", str(base),
                           "--baseline", str(base)], capture_output=True, text=True, timeout=120, check=False)
    assert none.returncode == 2 and "no usable prompts" in none.stderr
