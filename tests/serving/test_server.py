"""Contract tests against the real inference server process (containers/inference/serve) on loopback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from flywheel.model.artifact import pack

POLICY = {"role": "system", "content": "You are a careful assistant. Answer briefly and cite the docs."}


def chat(text: str, **params) -> dict:
    return {"messages": [POLICY, {"role": "user", "content": text}], **params}


def load(server, name, url):
    return server.call("POST", "/models", {"model_name": name, "url": str(url)})


def test_ping_and_metrics(mme):
    status, _, body = mme.call("GET", "/ping")
    assert status == 200 and body == {"status": "healthy"}
    status, headers, text = mme.call("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "# TYPE flywheel_loaded_models gauge" in text


def test_load_get_invoke_unload_and_contract_errors(mme, tiny_artifact):
    status, _, body = load(mme, "life", tiny_artifact)
    assert status == 200, body
    assert body["modelName"] == "life" and body["modelVersion"] == "test-v1" and body["precision"] == "fp32"  # auto: small
    assert load(mme, "life", tiny_artifact)[0] == 409
    status, _, body = mme.call("GET", "/models/life")
    assert status == 200 and body["modelUrl"] == str(tiny_artifact)
    status, _, answer = mme.call("POST", "/models/life/invoke", chat("What does json.dumps do?", max_tokens=8))
    assert status == 200, answer
    assert answer["model_version"] == "test-v1" and len(answer["choices"]) == 1
    choice = answer["choices"][0]
    assert isinstance(choice["text"], str) and choice["finish_reason"] in ("stop", "length")
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 10 and 1 <= usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    status, _, text = mme.call("GET", "/metrics")
    assert 'flywheel_loaded_models' in text and 'model="life",model_version="test-v1"' in text
    assert mme.call("DELETE", "/models/life")[0] == 200
    assert mme.call("DELETE", "/models/life")[0] == 404
    assert mme.call("GET", "/models/life")[0] == 404
    status, _, body = mme.call("POST", "/models/life/invoke", chat("hi"))
    assert status == 404 and body["error"] == "ModelNotFound"


def test_list_paginates_like_sagemaker(mme, tiny_artifact):
    names = ["page-a", "page-b", "page-c"]
    for name in names:
        assert load(mme, name, tiny_artifact)[0] == 200
    try:
        seen, token, pages = [], None, 0
        while True:
            query = "?max_results=2" + (f"&next_page_token={token}" if token else "")
            status, _, body = mme.call("GET", "/models" + query)
            assert status == 200 and len(body["models"]) <= 2
            seen += [m["modelName"] for m in body["models"]]
            pages += 1
            token = body.get("nextPageToken")
            if not token:
                break
        assert [n for n in seen if n.startswith("page-")] == names and pages >= 2
        assert mme.call("GET", "/models?max_results=zero")[0] == 400
    finally:
        for name in names:
            mme.call("DELETE", f"/models/{name}")


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps(chat("hi", temperature=5)).encode(), "temperature"),
    (json.dumps(chat("hi", top_p=0)).encode(), "top_p"),
    (json.dumps(chat("hi", max_tokens=0)).encode(), "max_tokens"),
    (json.dumps(chat("hi", n=100)).encode(), "n must be"),
    (json.dumps(chat("hi", top_k=-1)).encode(), "top_k"),
    (json.dumps(chat("hi", stop=[""])).encode(), "stop"),
    (json.dumps(chat("hi", max_tokens=True)).encode(), "max_tokens"),
    (json.dumps({"prompt": "a", "messages": []}).encode(), "exactly one"),
    (json.dumps({"messages": [{"role": "wizard", "content": "x"}]}).encode(), "role"),
    (json.dumps({"prompt": "x", "frequency": 1}).encode(), "unknown fields"),
    (json.dumps({"prompt": "x " * 400}).encode(), "leaves no room"),
])
def test_bad_requests_are_400_with_a_reason(mme, tiny_artifact, body, reason):
    if mme.call("GET", "/models/bad")[0] == 404:
        assert load(mme, "bad", tiny_artifact)[0] in (200, 409)
    status, _, answer = mme.call("POST", "/models/bad/invoke", body)
    assert status == 400 and reason in answer["message"], answer
    assert mme.alive()


def test_bad_load_requests_are_400(mme):
    assert mme.call("POST", "/models", b"{oops")[0] == 400
    assert mme.call("POST", "/models", {"model_name": "x"})[0] == 400
    assert mme.call("POST", "/models", {"model_name": "x", "url": "/nonexistent/dir"})[0] == 400
    assert mme.call("GET", "/nowhere")[0] == 404


def _evil_archive(path, tiny_artifact):
    """A model.tar.gz with the real artifact plus a member that climbs out of the target folder."""
    with tarfile.open(path, "w:gz") as tar:
        for f in sorted(tiny_artifact.iterdir()):
            tar.add(f, arcname=f.name)
        data = b"pwned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_hostile_and_broken_archives_are_refused_and_the_server_keeps_serving(mme, tiny_artifact, tmp_path):
    evil = tmp_path / "evil" / "model.tar.gz"
    evil.parent.mkdir()
    _evil_archive(evil, tiny_artifact)
    status, _, body = load(mme, "evil", evil)
    assert status == 400 and "escape" in body["message"].lower() or "outside" in body["message"].lower(), body
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
    garbage = tmp_path / "garbage" / "model.tar.gz"
    garbage.parent.mkdir()
    garbage.write_bytes(b"\x1f\x8b this is not a gzip stream at all" * 10)
    assert load(mme, "garbage", garbage)[0] == 400
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert load(mme, "empty", empty_dir)[0] == 400
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_artifact.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    assert load(mme, "broken", broken)[0] == 400
    assert mme.call("GET", "/models/evil")[0] == 404
    # A real archive in a folder (how SageMaker hands one over) loads and answers.
    good = tmp_path / "good"
    pack(tiny_artifact, good / "model.tar.gz")
    assert load(mme, "good", good)[0] == 200
    assert mme.call("POST", "/models/good/invoke", chat("hi", max_tokens=2))[0] == 200
    assert mme.call("DELETE", "/models/good")[0] == 200
    assert mme.alive()


def test_batched_greedy_equals_alone(mme, fp32_artifact):
    assert load(mme, "fp32", fp32_artifact)[0] == 200
    assert mme.call("GET", "/models/fp32")[2]["precision"] == "fp32"
    questions = ["What does json.dumps do?", "Explain heapq.", "Where is pathlib?", "sorted(reverse=True)?"]
    lengths = [24, 9, 17, 30]
    alone = [mme.call("POST", "/models/fp32/invoke", chat(q, max_tokens=n))[2] for q, n in zip(questions, lengths)]
    for answer in alone:
        assert answer["usage"]["completion_tokens"] >= 1
    # The same requests at once, mixed with sampled ones of other lengths so rows join and leave.
    bodies = [chat(q, max_tokens=n) for q, n in zip(questions, lengths)]
    bodies += [chat(f"noise {i}", max_tokens=5 + 7 * i, temperature=0.9, seed=i) for i in range(4)]
    barrier = threading.Barrier(len(bodies))

    def run(body):
        barrier.wait()
        return mme.call("POST", "/models/fp32/invoke", body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(run, bodies))
    assert all(r[0] == 200 for r in results), results
    for a, (status, _, b) in zip(alone, results[:4]):
        assert b["choices"] == a["choices"]
        assert b["usage"]["completion_tokens"] == a["usage"]["completion_tokens"]
    text = mme.call("GET", "/metrics")[2]
    peak = next(line for line in text.splitlines()
            if line.startswith('flywheel_batch_size_peak{model="fp32"'))
    assert float(peak.split()[-1]) > 1  # they really were decoded together
    hits = next(line for line in text.splitlines()
            if line.startswith('flywheel_prefix_cache_hit_tokens_total{model="fp32"'))
    assert float(hits.split()[-1]) > 0  # the shared system policy was reused


def test_streaming_sampling_seed_n_and_stop_strings(mme, fp32_artifact):
    if mme.call("GET", "/models/fp32")[0] == 404:
        assert load(mme, "fp32", fp32_artifact)[0] == 200
    body = {"prompt": "The json module", "max_tokens": 20, "temperature": 0.8, "top_p": 0.9, "top_k": 50,
            "seed": 7, "n": 3}
    status, _, first = mme.call("POST", "/models/fp32/invoke", body)
    assert status == 200 and len(first["choices"]) == 3
    assert mme.call("POST", "/models/fp32/invoke", body)[2]["choices"] == first["choices"]  # seeded
    texts = {c["text"] for c in first["choices"]}
    assert len(texts) > 1  # the choices draw differently
    # Streaming: newline-delimited JSON chunks that add up to the same answer, then the usage line.
    request = urllib.request.Request(mme.url + "/models/fp32/invoke", method="POST",
                                     data=json.dumps({**body, "stream": True}).encode())
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    chunks, tail = lines[:-1], lines[-1]
    assert tail["model_version"] == "test-v1" and tail["usage"] == first["usage"]
    for choice in first["choices"]:
        mine = [c for c in chunks if c["index"] == choice["index"]]
        assert "".join(c["text"] for c in mine) == choice["text"]
        assert mine[-1]["finish_reason"] == choice["finish_reason"]
    # Stop strings: cut the answer where a piece of the free-running text begins.
    free = first["choices"][0]["text"]
    stop = free[len(free) // 2:len(free) // 2 + 3]
    cut = free[:free.find(stop)]
    status, _, stopped = mme.call("POST", "/models/fp32/invoke", {**body, "n": 1, "stop": [stop]})
    assert status == 200 and stopped["choices"][0] == {"index": 0, "text": cut, "finish_reason": "stop"}


def test_overload_at_ten_times_capacity(mme, tiny_artifact):
    """Capacity is max_batch 4 + queue 4: 80 requests at once get 429s with Retry-After, never crash."""
    if mme.call("GET", "/models/load")[0] == 404:
        assert load(mme, "load", tiny_artifact)[0] == 200
    n = 80
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return mme.call("POST", "/models/load/invoke", chat(f"question {i}", max_tokens=24), timeout=120)

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(run, range(n)))
    statuses = [r[0] for r in results]
    assert set(statuses) <= {200, 429}, statuses
    rejected = [r for r in results if r[0] == 429]
    answered = [r for r in results if r[0] == 200]
    assert rejected and answered
    assert all(int(r[1]["Retry-After"]) >= 1 and r[2]["error"] == "Overloaded" for r in rejected)
    assert all(r[2]["choices"][0]["finish_reason"] in ("stop", "length") for r in answered)
    assert mme.alive()
    assert mme.call("POST", "/models/load/invoke", chat("after the storm", max_tokens=4))[0] == 200
    text = mme.call("GET", "/metrics")[2]
    assert 'outcome="overloaded"' in text


def test_timeout_finishes_or_refuses_with_retry_after(mme, tiny_artifact):
    if mme.call("GET", "/models/load")[0] == 404:
        assert load(mme, "load", tiny_artifact)[0] == 200
    status, headers, body = mme.call("POST", "/models/load/invoke",
                                     {"prompt": "slow", "max_tokens": 60, "timeout_s": 0.001})
    if status == 200:
        assert body["choices"][0]["finish_reason"] == "timeout"
    else:
        assert status == 503 and int(headers["Retry-After"]) >= 1


def test_emf_log_lines_use_the_catalogue(mme, tiny_artifact):
    if mme.call("GET", "/models/load")[0] == 404:
        assert load(mme, "load", tiny_artifact)[0] == 200
    assert mme.call("POST", "/models/load/invoke", chat("metrics please", max_tokens=4))[0] == 200
    docs = [json.loads(line) for line in mme.log.read_text().splitlines()
            if line.startswith('{"') and '"_aws"' in line]  # besides EMF, the server logs JSON request lines
    names = {m["Name"] for d in docs for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"TimeToFirstToken", "ModelLoads"} <= names
    ttft = next(d for d in docs if "TimeToFirstToken" in d)
    assert ttft["service"] == "serving" and ttft["ModelVersion"] == "test-v1"
    assert ttft["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Flywheel"


def test_507_when_it_cannot_fit_even_after_evicting_idle_models(start_server, tiny_artifact, tmp_path):
    import torch

    from flywheel.model import GPT, preset
    from flywheel.model.artifact import load_artifact, save_artifact

    server = start_server(SAGEMAKER_MULTI_MODEL="true", FLYWHEEL_MAX_BATCH=2, FLYWHEEL_MEMORY_BUDGET_MB=1.0)
    assert load(server, "a", tiny_artifact)[0] == 200
    # b fits only once idle a is evicted.
    status, _, body = load(server, "b", tiny_artifact)
    assert status == 200, body
    assert [m["modelName"] for m in server.call("GET", "/models")[2]["models"]] == ["b"]
    assert "flywheel_model_evictions_total" in server.call("GET", "/metrics")[2]
    # A model bigger than the whole budget: 507, and nothing is evicted for it.
    tok = load_artifact(tiny_artifact).tokenizer
    torch.manual_seed(0)
    big = save_artifact(tmp_path / "big", GPT(preset("debug", n_embd=256, n_head=4, vocab_size=tok.vocab_size)),
                        tok, version="big-v1")
    status, _, body = load(server, "big", big)
    assert status == 507 and body["error"] == "InsufficientMemory", body
    assert [m["modelName"] for m in server.call("GET", "/models")[2]["models"]] == ["b"]
    assert server.call("POST", "/models/b/invoke", chat("still here?", max_tokens=3))[0] == 200


def test_single_model_mode(start_server, tiny_artifact):
    server = start_server(FLYWHEEL_MODEL_DIR=tiny_artifact, FLYWHEEL_PRECISION="fp32")
    assert server.call("GET", "/ping")[0] == 200
    status, _, answer = server.call("POST", "/invocations", {"prompt": "The csv module", "max_tokens": 5})
    assert status == 200 and answer["model_version"] == "test-v1"
    assert server.call("GET", "/models")[0] == 404
    assert server.call("POST", "/invocations", b"nope")[0] == 400


def test_http_layer_imports_no_torch():
    code = ("import sys, flywheel.serving.http, flywheel.local.endpoint; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dockerfile_declares_the_multi_model_capability_and_runs_serve():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "containers" / "inference"
    labels = [line.split(None, 1)[1] for line in (root / "Dockerfile").read_text().splitlines()
              if line.startswith("LABEL ")]
    assert "com.amazonaws.sagemaker.capabilities.multi-models=true" in labels
    assert (root / "serve").stat().st_mode & 0o111  # executable: SageMaker runs `<image> serve`
