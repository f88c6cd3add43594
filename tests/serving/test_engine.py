"""The engine in-process: continuous batching, prefix caching, sampling and metrics, on the tiny model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from flywheel.model.artifact import load_artifact
from flywheel.serving.engine import Engine
from flywheel.serving.errors import BadRequest, Overloaded
from flywheel.serving.metrics import ServingMetrics
from flywheel.serving.params import parse_request
from flywheel.serving.runner import ModelRunner
from flywheel.serving.settings import EngineSettings

POLICY = {"role": "system", "content": "You are a careful assistant. Answer briefly and cite the docs."}


def make_engine(tiny_artifact, lines=None, precision="fp32", **settings):
    settings = EngineSettings(**{"max_batch": 3, "max_queue": 16, **settings})
    artifact = load_artifact(tiny_artifact)
    slots = settings.max_batch + (settings.prefix_slots if settings.prefix_caching else 0)
    metrics = ServingMetrics(sink=lines.append if lines is not None else None, emf=lines is not None)
    return Engine(ModelRunner(artifact, slots, precision), artifact.tokenizer, settings,
                  metrics.for_model("m", artifact.version), name="m", version=artifact.version), metrics


def chat(text, **params):
    return parse_request({"messages": [POLICY, {"role": "user", "content": text}], **params})


@pytest.fixture(scope="module")
def engine(tiny_artifact):
    engine, _ = make_engine(tiny_artifact)
    yield engine
    engine.close()


def test_rows_join_and_leave_and_each_equals_its_run_alone(engine, tiny_artifact):
    requests = [chat(f"question number {i} about {w}", max_tokens=3 + 5 * (i % 4))
                for i, w in enumerate(["json", "csv", "heapq", "bisect", "pathlib", "argparse", "random"])]
    alone = [engine.generate(r) for r in requests]
    with ThreadPoolExecutor(len(requests)) as pool:  # 7 requests through 3 slots: joins and leaves
        together = list(pool.map(engine.generate, requests))
    assert [a["choices"] for a in alone] == [t["choices"] for t in together]
    assert engine.prefix_hits >= len(requests)


def test_prefix_cache_changes_nothing_but_the_work(tiny_artifact, engine):
    plain, _ = make_engine(tiny_artifact, prefix_caching=False)
    try:
        for text in ("first", "second question"):
            cached, uncached = engine.generate(chat(text, max_tokens=12)), plain.generate(chat(text, max_tokens=12))
            assert cached["choices"] == uncached["choices"]
            assert cached["usage"]["cached_prompt_tokens"] > 0 and uncached["usage"]["cached_prompt_tokens"] == 0
    finally:
        plain.close()


def test_an_evicted_prefix_is_read_from_each_sequences_own_copy(tiny_artifact):
    # One prefix slot, two system policies in turn: each admission evicts the prefix that the
    # sequences still running share, and the slot is overwritten with the other policy. Their decode
    # steps, which read the shared prefix from that slot, must switch to their own copy.
    other = {"role": "system", "content": "You are terse. Never cite anything at all, just answer."}
    requests = [parse_request({"messages": [(POLICY, other)[i % 2], {"role": "user", "content": f"item {i}"}],
                               "max_tokens": 6 + 4 * i}) for i in range(6)]
    shared, _ = make_engine(tiny_artifact, prefix_slots=1)
    plain, _ = make_engine(tiny_artifact, prefix_caching=False)
    runner, decode = shared.runner, shared.runner.decode
    reads, stale = [], []

    def checked(tokens, positions, prefix_slots=None, prefix_lens=None):
        # What a step is told to read from a prefix slot must be what the row's own slot holds there.
        kv = runner.cache.kv
        for row, (slot, n) in enumerate(zip(prefix_slots, prefix_lens)):
            if n:
                reads.append(row)
                if not torch.equal(kv[:, :, slot, :, :n], kv[:, :, row, :, :n]):
                    stale.append((row, slot, n))
        return decode(tokens, positions, prefix_slots, prefix_lens)

    runner.decode = checked
    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            got = list(pool.map(shared.generate, requests))
        want = [plain.generate(r) for r in requests]
        assert [g["choices"] for g in got] == [w["choices"] for w in want]
        assert reads and not stale
    finally:
        shared.close()
        plain.close()


def test_greedy_choices_agree_and_top_k_one_is_greedy(engine):
    greedy = engine.generate(chat("same", max_tokens=8, n=3))
    assert len({c["text"] for c in greedy["choices"]}) == 1
    assert greedy["usage"]["prompt_tokens"] > 0
    k1 = engine.generate(chat("same", max_tokens=8, temperature=1.5, top_k=1, seed=3))
    assert k1["choices"][0]["text"] == greedy["choices"][0]["text"]
    p0 = engine.generate(chat("same", max_tokens=8, temperature=1.0, top_p=1e-6, seed=4))
    assert p0["choices"][0]["text"] == greedy["choices"][0]["text"]


def test_stream_chunks_add_up_to_the_result(engine):
    completion = engine.submit(chat("stream me", max_tokens=10, temperature=0.7, seed=1))
    chunks = list(completion)
    result = completion.result()
    assert "".join(c["text"] for c in chunks) == result["choices"][0]["text"]
    assert chunks[-1]["finish_reason"] == result["choices"][0]["finish_reason"]


def test_admission_control_and_bad_prompts(tiny_artifact):
    engine, metrics = make_engine(tiny_artifact, max_batch=1, max_queue=1)
    try:
        with pytest.raises(BadRequest, match="no room"):
            engine.submit(parse_request({"prompt": "word " * 200}))
        outcomes = []
        completions = []
        for _ in range(6):
            try:
                completions.append(engine.submit(chat("hold on", max_tokens=30)))
            except Overloaded as exc:
                outcomes.append(exc.retry_after)
        assert outcomes and all(r >= 1 for r in outcomes)
        assert all(c.result()["choices"][0]["finish_reason"] in ("stop", "length") for c in completions)
        assert 'outcome="overloaded"' in metrics.render()
    finally:
        engine.close()


def test_metrics_render_and_emf_lines(tiny_artifact):
    lines: list[str] = []
    engine, metrics = make_engine(tiny_artifact, lines=lines)
    try:
        engine.generate(chat("measure", max_tokens=5))
        engine.metrics.flush()
    finally:
        engine.close()
    text = metrics.render()
    for name in ("flywheel_time_to_first_token_ms_count", "flywheel_queue_depth", "flywheel_batch_size",
                 "flywheel_tokens_per_second", "flywheel_prefix_cache_hit_tokens_total", "flywheel_loaded_models"):
        assert name in text
    names = {json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for line in lines}
    assert {"TimeToFirstToken", "TimePerOutputToken", "QueueDepth", "BatchSize", "TokensPerSecond",
            "PrefixCacheHits"} <= names


@pytest.mark.parametrize("body", [
    {"prompt": "x", "temperature": -0.1}, {"prompt": "x", "n": 0}, {"prompt": "x", "seed": -1},
    {"prompt": "x", "stop": ["a"] * 5}, {"prompt": "x", "stream": "yes"}, {"prompt": ""},
    {"messages": [{"role": "user", "content": 3}]}, {"prompt": "x", "timeout_s": 0},
])
def test_params_out_of_range(body):
    with pytest.raises(BadRequest):
        parse_request(json.dumps(body))


def test_params_accept_nulls_and_defaults():
    r = parse_request({"prompt": "x", "top_k": None, "stop": None, "seed": None, "max_tokens": 5})
    assert (r.top_k, r.stop, r.seed, r.max_tokens, r.n, r.greedy) == (0, (), 0, 5, 1, True)


def test_settings_from_env():
    from flywheel.serving.settings import ServerSettings

    s = ServerSettings.from_env({"SAGEMAKER_MULTI_MODEL": "TRUE", "SAGEMAKER_BIND_TO_PORT": "9090",
                                 "FLYWHEEL_MEMORY_BUDGET_MB": "1.5", "FLYWHEEL_MAX_BATCH": "2",
                                 "FLYWHEEL_WORK_DIR": "/tmp/x"})
    assert (s.multi_model, s.port, s.memory_budget_bytes, s.engine.max_batch, s.engine.max_n) == (
        True, 9090, int(1.5 * 2**20), 2, 2)
    assert ServerSettings.from_env({"FLYWHEEL_WORK_DIR": "/tmp/x"}).port == 8080
    with pytest.raises(ValueError, match="SAGEMAKER_BIND_TO_PORT"):
        ServerSettings.from_env({"SAGEMAKER_BIND_TO_PORT": "http", "FLYWHEEL_WORK_DIR": "/tmp/x"})
    with pytest.raises(ValueError, match="precision"):
        ServerSettings.from_env({"FLYWHEEL_PRECISION": "int4", "FLYWHEEL_WORK_DIR": "/tmp/x"})


@pytest.mark.parametrize("precision", ["fp16", "int8", "bf16"])
def test_other_precisions_run_the_same_engine(tiny_artifact, precision):
    """fp16 and int8 are the CPU's for bigger models; bf16 is what CUDA gets (run here on CPU: the same code path)."""
    artifact = load_artifact(tiny_artifact)
    settings = EngineSettings(max_batch=2, precision=precision)
    runner = ModelRunner(artifact, 2 + settings.prefix_slots, precision, device="cpu")
    assert runner.precision == precision
    # Keys and values: bf16 with bf16; float16 under int8 and fp16 where the compiled attention reads
    # it (float32 without it); and the memory budget counts what was allocated.
    from flywheel.model import kernels
    from flywheel.serving.runner import cache_bytes

    half = torch.float16 if kernels.decode_attention() is not None else torch.float32
    assert runner.cache.kv.dtype == {"bf16": torch.bfloat16}.get(precision, half)
    assert cache_bytes(artifact.config, runner.n_slots, precision) == runner.cache.kv.nbytes
    engine = Engine(runner, artifact.tokenizer, settings, name="p", version=artifact.version)
    try:
        answer = engine.generate(chat("precision", max_tokens=6, n=2))
        assert answer["usage"]["completion_tokens"] >= 2 and len(answer["choices"]) == 2
    finally:
        engine.close()


def test_a_failing_step_fails_its_requests_and_the_engine_keeps_serving(tiny_artifact):
    engine, _ = make_engine(tiny_artifact)
    real_decode = engine.runner.decode
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated device error")
        return real_decode(*args)

    engine.runner.decode = flaky
    try:
        from flywheel.serving.errors import EngineFailure

        with pytest.raises(EngineFailure):
            engine.generate(chat("doomed", max_tokens=10))
        assert engine.generate(chat("fine", max_tokens=3))["usage"]["completion_tokens"] >= 1
    finally:
        engine.close()


def test_batched_sampling_draws_from_the_filtered_distribution():
    from flywheel.serving.sampling import sample_rows

    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    n = 20000
    rows = logits.expand(n, -1)
    gen = torch.Generator().manual_seed(0)

    def draw(temperature, top_k, top_p):
        return sample_rows(rows, torch.full((n,), temperature), torch.full((n,), top_k, dtype=torch.long),
                           torch.full((n,), top_p), torch.rand(n, generator=gen))

    seen = torch.bincount(draw(0.8, 0, 1.0), minlength=6) / n
    assert torch.allclose(seen, torch.softmax(logits[0] / 0.8, -1), atol=0.015)
    top3 = torch.bincount(draw(1.0, 3, 1.0), minlength=6) / n
    assert top3[3:].sum() == 0 and torch.allclose(top3[:3], torch.softmax(logits[0, :3], -1), atol=0.015)
    # softmax(logits) = .57, .21, .13, ...: top_p 0.7 keeps the first two (mass before the third is .78).
    nucleus = torch.bincount(draw(1.0, 0, 0.7), minlength=6) / n
    assert nucleus[2:].sum() == 0 and abs(nucleus[0] - 0.57 / 0.78) < 0.015
    assert (draw(1.0, 1, 1.0) == 0).all() and (draw(2.0, 0, 1e-6) == 0).all()


@pytest.mark.parametrize(("int8_kernel", "fbgemm_keeps_rows"), [(True, True), (False, True), (False, False)])
def test_auto_precision_is_bf16_on_cuda_and_on_cpu_follows_the_model_size(int8_kernel, fbgemm_keeps_rows,
                                                                           monkeypatch):
    from flywheel.model import kernels, preset
    from flywheel.serving import runner
    from flywheel.serving.runner import (
        FP16_AUTO_MIN_PARAMS,
        INT8_AUTO_MIN_PARAMS,
        linear_params,
        resolve_precision,
    )

    # Where flywheel's compiled int8 Linear is built or not: only whether it exists is read.
    monkeypatch.setattr(kernels, "int8_linear", (lambda: object()) if int8_kernel else (lambda: None))
    # fbgemm's float16 GEMM keeps rows apart (its AVX-512 kernel) or not (its AVX2 one)
    monkeypatch.setattr(runner, "fbgemm_fp16_keeps_rows", lambda: fbgemm_keeps_rows)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    tiny, bench, base = preset("debug"), preset("bench"), preset("base")
    assert linear_params(tiny) < FP16_AUTO_MIN_PARAMS <= linear_params(bench) < INT8_AUTO_MIN_PARAMS <= linear_params(base)
    assert resolve_precision("auto", {}, cpu, tiny) == "fp32"
    # fp16 only where neither the int8 kernel is built nor would fbgemm make a row depend on its batch
    assert resolve_precision("auto", {}, cpu, bench) == ("fp16" if fbgemm_keeps_rows and not int8_kernel else "int8")
    assert resolve_precision("auto", {}, cpu, base) == "int8"
    assert resolve_precision("auto", {}, cuda, tiny) == "bf16"
    assert resolve_precision("int8", {}, cuda, base) == "bf16"  # fbgemm's kernels are CPU-only
    assert resolve_precision("fp16", {}, cuda, bench) == "bf16"
    # per model (the artifact's config.json), and the server's setting over both
    assert resolve_precision("auto", {"serving": {"precision": "int8"}}, cpu, tiny) == "int8"
    assert resolve_precision("fp32", {"serving": {"precision": "int8"}}, cpu, base) == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int4", {}, cpu, base)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_quantized_rows_equal_their_run_alone(tiny_artifact, precision):
    # int8 quantizes each row's activations on their own scale and fp16 quantizes none, so a
    # request's greedy text does not depend on what else is running.
    engine, _ = make_engine(tiny_artifact, precision=precision)
    try:
        assert engine.runner.precision == precision
        requests = [chat(f"{precision} question {i} about {w}", max_tokens=4 + 6 * (i % 3))
                    for i, w in enumerate(["json", "csv", "heapq", "bisect", "pathlib"])]
        alone = [engine.generate(r) for r in requests]
        with ThreadPoolExecutor(len(requests)) as pool:
            together = list(pool.map(engine.generate, requests))
        assert [a["choices"] for a in alone] == [t["choices"] for t in together]
    finally:
        engine.close()


def test_a_seeded_sample_is_the_same_alone_and_in_a_batch(engine):
    seeded = chat("tell me about sorting", max_tokens=10, temperature=1.2, top_p=0.9, seed=7)
    alone = engine.generate(seeded)
    others = [chat(f"noise {i}", max_tokens=8, temperature=0.9, seed=i) for i in range(4)]
    with ThreadPoolExecutor(5) as pool:
        together = list(pool.map(engine.generate, [seeded, *others]))
    assert together[0]["choices"] == alone["choices"]


def test_thread_tuner_keeps_the_faster_thread_count_and_looks_again():
    from flywheel.serving.runner import ThreadTuner

    tuner = ThreadTuner([2, 1], probe=3, hold=5)
    cost = {2: 0.004, 1: 0.001}  # seconds per row: on a busy machine one thread wins
    seen = []
    for step in range(40):
        n = tuner.threads()
        seen.append(n)
        tuner.record(n, cost[n], timed=step % 7 != 0)  # some steps follow a switch: not timed
        if step == 20:
            cost = {2: 0.0005, 1: 0.001}  # the other jobs left: two threads win again
    # step 0 is not timed, 1-3 time two threads, 4-6 one thread; one wins and is held for 5 steps
    assert seen[:7] == [2, 2, 2, 2, 1, 1, 1] and set(seen[7:12]) == {1}
    # after the change, the probe of steps 24-30 finds two threads faster and holds them
    assert set(seen[31:36]) == {2} and tuner.choice == 2
    assert ThreadTuner([1, 1]).threads() == 1


def test_on_passing_thread_returns_or_raises_from_a_thread_that_has_ended():
    import threading

    from flywheel.serving.runner import on_passing_thread

    ran = []

    def work(x, y=0):
        ran.append(threading.current_thread())
        return x + y

    assert on_passing_thread(work, 2, y=3) == 5
    assert ran[0] is not threading.current_thread() and not ran[0].is_alive()
    with pytest.raises(ZeroDivisionError):
        on_passing_thread(lambda: 1 / 0)


def test_the_registry_builds_a_model_off_the_loading_thread(tiny_artifact, monkeypatch, tmp_path):
    # An OpenMP team left on a thread that lives on (the server's main one) slows every decode step.
    import threading

    import flywheel.serving.runner as runner_module
    from flywheel.serving.registry import ModelRegistry
    from flywheel.serving.settings import ServerSettings

    built_on = []

    class Recording(runner_module.ModelRunner):
        def __init__(self, *args, **kwargs):
            built_on.append(threading.current_thread())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner_module, "ModelRunner", Recording)
    registry = ModelRegistry(ServerSettings.from_env({"FLYWHEEL_WORK_DIR": str(tmp_path)}))
    try:
        registry.load("m", str(tiny_artifact))
        assert built_on and built_on[0] is not threading.current_thread() and not built_on[0].is_alive()
    finally:
        registry.close()


def test_narrow_steps_are_timed_at_one_thread_then_at_the_configured_count(tiny_artifact):
    before = torch.get_num_threads()
    runner = ModelRunner(load_artifact(tiny_artifact), 2, "fp32")
    try:
        tuner = runner.narrow_tuner
        assert tuner.candidates == list(dict.fromkeys([1, runner.threads]))
        seen = []
        for step in range(tuner.probe * len(tuner.candidates) + 2):
            runner.decode([1], [step])
            seen.append(torch.get_num_threads())
        assert seen[0] == 1 and set(seen) == set(tuner.candidates)  # both were run, one thread first
        assert tuner.threads() == tuner.choice in tuner.candidates  # then one is held
    finally:
        runner.release()
        torch.set_num_threads(before)


def test_a_runner_built_after_another_dropped_to_one_thread_still_tunes_the_configured_count(tiny_artifact):
    from flywheel.serving.runner import configured_threads

    before = torch.get_num_threads()
    first = ModelRunner(load_artifact(tiny_artifact), 2, "fp32")
    try:
        first.decode([1], [0])  # a narrow step runs on one thread
        assert torch.get_num_threads() == 1
        later = ModelRunner(load_artifact(tiny_artifact), 2, "fp32")
        assert later.threads == configured_threads() == first.threads
        later.release()  # what Engine.close does: other torch work in the process gets them back
        assert torch.get_num_threads() == configured_threads()
    finally:
        torch.set_num_threads(before)
