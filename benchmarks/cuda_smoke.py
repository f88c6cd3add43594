"""CUDA smoke test of training and serving: the checks a GPU machine runs in one short, prepared run.

    python benchmarks/cuda_smoke.py                        # on a machine with a CUDA device
    python benchmarks/cuda_smoke.py --device cpu --steps 20  # rehearse the same steps on a laptop

Needs only the model extras (torch, tokenizers, safetensors) and numpy/pyyaml; no AWS libraries, so
it runs in a bare GPU image with `PYTHONPATH=src`. Each step prints PASS or FAIL with its figures:

  1. channel   a BPE tokenizer and a pretrain shard channel from the standard library's docstrings
  2. train     `torchrun training_jobs/train.py --device cuda`: NCCL process group, bf16 autocast, fused
               AdamW; the validation loss must fall and the saved artifact must load
  3. fsdp      the same job sharded with FSDP for a few steps (one process: FSDP over NCCL end to end)
  4. engine    the serving runner on CUDA: `auto` precision resolves to bf16; fp32 greedy outputs of a
               batch of 8 mixed-length requests equal each request run alone; bf16 agrees with fp32
               on the first tokens; how many bf16 requests batched equal themselves alone (reported)
  5. serve     the inference container's entry point on the trained artifact, multi-model mode: load,
               GET /models/<name> says bf16, chat invoke, a 400 on a bad body, /metrics, unload
  6. bench     (with --bench) benchmarks/serving.py --device cuda: this engine against HF on the GPU

Exits 1 if any step failed. With OUT set (or --out), writes summary.json there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))  # its sibling serving.py

import torch

VAL_LOSS = re.compile(r"^step=(\d+) val_loss=([0-9.eE+-]+|nan)", re.MULTILINE)
RESULTS: list[dict] = []


def step(name: str):
    """Run one check, record PASS/FAIL with its figures and wall time; never stop the others."""
    def wrap(fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                figures = fn(*args, **kwargs) or {}
                ok = True
            except Exception as exc:  # noqa: BLE001 - a smoke test reports every failure and goes on
                figures = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
                ok = False
            seconds = round(time.perf_counter() - t0, 1)
            RESULTS.append({"step": name, "ok": ok, "seconds": seconds, **figures})
            shown = {k: v for k, v in figures.items() if k != "trace"}
            print(f"[{'PASS' if ok else 'FAIL'}] {name} ({seconds} s) {json.dumps(shown, default=str)}", flush=True)
            if not ok:
                print(figures["trace"], flush=True)
            return figures if ok else None
        return run
    return wrap


def env_for_jobs() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "RANK", "WORLD_SIZE", "MASTER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@step("channel")
def make_channel(work: Path, vocab: int) -> dict:
    from flywheel.data.demo_corpus import stdlib_docstrings
    from flywheel.data.shards import write_channel
    from flywheel.model.tokenizer import ChatTokenizer

    modules = ("json", "csv", "argparse", "collections", "functools", "itertools", "pathlib", "statistics",
               "textwrap", "string", "heapq", "datetime", "random", "os", "re", "subprocess", "threading",
               "typing", "dataclasses", "logging", "shutil", "tarfile", "zipfile", "socket", "email", "http")
    texts = sorted(stdlib_docstrings(modules, min_chars=80))
    tok = ChatTokenizer.train(texts, vocab_size=vocab)
    docs = tok.encode_batch(texts)
    meta = write_channel(work / "channel", tok, {"train": docs[40:], "val": docs[:40]}, kind="pretrain",
                         data_version="cuda-smoke-v1")
    return {"documents": len(docs), "tokens": sum(len(d) for d in docs), "vocab": tok.vocab_size,
            "splits": sorted(meta.get("splits", {}))}


def run_job(work: Path, name: str, device: str, steps: int, extra: list[str], timeout: int) -> dict:
    root = work / name
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
               str(REPO / "training_jobs" / "train.py"), "--preset", "small", "--device", device,
               "--max-steps", str(steps), "--batch-size", "32", "--eval-every", str(max(steps // 4, 1)),
               "--eval-batches", "8", "--warmup-steps", str(max(steps // 10, 1)), "--log-every", str(max(steps // 4, 1)), "--checkpoint-every", "0",
               "--train-dir", str(work / "channel"), "--model-dir", str(root / "model"),
               "--output-data-dir", str(root / "output"), "--checkpoint-dir", str(root / "checkpoints"),
               "--failure-file", str(root / "failure"), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env_for_jobs(), check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        failure = (root / "failure").read_text() if (root / "failure").is_file() else ""
        raise RuntimeError(f"exit {proc.returncode}: {failure}\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    losses = [float(v) for _, v in VAL_LOSS.findall(proc.stdout)]
    metrics = json.loads((root / "output" / "metrics.json").read_text())["metrics"]
    from flywheel.model.artifact import load_artifact

    artifact = load_artifact(root / "model")
    if len(losses) < 2 or not losses[-1] < losses[0]:
        raise AssertionError(f"validation loss did not fall: {losses}")
    job_device = re.search(r"world_size=\d+ device=(\w+)", proc.stdout)
    if job_device is None or job_device.group(1) != torch.device(device).type:
        raise AssertionError(f"the job did not run on {device}: {proc.stdout[:500]}")
    return {"val_losses": [round(x, 4) for x in losses], "tokens_per_sec": round(metrics.get("tokens_per_sec") or 0),
            "wall_s": round(seconds, 1), "version": artifact.version,
            "job_device": job_device.group(1), "log_head": proc.stdout.splitlines()[:2]}


@step("train")
def train(work: Path, device: str, steps: int) -> dict:
    return run_job(work, "ddp", device, steps, [], timeout=600)


@step("fsdp")
def train_fsdp(work: Path, device: str, steps: int) -> dict:
    return run_job(work, "fsdp", device, steps, ["--fsdp", "true"], timeout=600)


@step("engine")
def engine_checks(work: Path, device: str) -> dict:
    from serving import engine_for  # benchmarks/serving.py: the engine, its stop ids cleared

    from flywheel.model.artifact import load_artifact
    from flywheel.serving.params import GenerationRequest
    from flywheel.serving.runner import resolve_precision

    artifact = load_artifact(work / "ddp" / "model")
    auto = resolve_precision("auto", artifact.meta, torch.device(device), artifact.config)  # as the runner does
    tok = artifact.tokenizer
    prompts = [tok.encode_chat([{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": text}], add_generation_prompt=True)[0]
               for text in ("Open a file.", "What does json.dumps return for a dict with nested lists?",
                            "Sort a list", "Explain threading.Lock and when a reentrant lock is needed instead.",
                            "Parse arguments", "zip files", "Copy a tree of folders with shutil.", "heapq")]

    def outputs(precision: str, together: bool) -> list[list[int]]:
        engine = engine_for(work / "ddp" / "model", precision, device, max_batch=8)
        try:
            def one(ids):
                result = engine.generate(GenerationRequest(prompt_ids=tuple(ids), max_tokens=24))
                return tok.encode(result["choices"][0]["text"])
            if together:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(len(prompts)) as pool:
                    return list(pool.map(one, prompts))
            return [one(p) for p in prompts]
        finally:
            engine.close()

    batched, alone = outputs("fp32", True), outputs("fp32", False)
    same = sum(a == b for a, b in zip(batched, alone, strict=True))
    low = outputs(auto, True)
    low_alone = alone if auto == "fp32" else outputs(auto, False)  # fp32 alone is already run
    first = sum(a[:4] == b[:4] for a, b in zip(low, alone, strict=True))
    # Reported, not asserted (yet): whether the reduced precision keeps batched == alone on this
    # device has not been measured on a GPU (on CPU, int8 is bit-for-bit; tests/serving).
    low_same = sum(a == b for a, b in zip(low, low_alone, strict=True))
    if same != len(prompts):
        raise AssertionError(f"fp32 batched != alone on {len(prompts) - same} of {len(prompts)} requests")
    if device.startswith("cuda") and auto != "bf16":
        raise AssertionError(f"auto precision on CUDA resolved to {auto}, not bf16")
    return {"auto_precision": auto, "fp32_batched_equals_alone": f"{same}/{len(prompts)}",
            f"{auto}_first4_tokens_agree_with_fp32": f"{first}/{len(prompts)}",
            **({} if auto == "fp32" else {f"{auto}_batched_equals_alone": f"{low_same}/{len(prompts)}"}),
            "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"}


def http(method: str, url: str, body=None, timeout: float = 60) -> tuple[int, bytes]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@step("serve")
def serve(work: Path) -> dict:
    env = env_for_jobs() | {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_BIND_TO_PORT": "0",
                            "FLYWHEEL_BIND_HOST": "127.0.0.1", "FLYWHEEL_WORK_DIR": str(work / "serve-work")}
    proc = subprocess.Popen([sys.executable, str(REPO / "containers" / "inference" / "serve")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, port = time.time() + 120, None
        while port is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode} before listening")
            match = re.search(r"listening on [\w.]+:(\d+)", line)
            port = int(match.group(1)) if match else None
        if port is None:
            raise RuntimeError("server did not print its port in 120 s")
        base = f"http://127.0.0.1:{port}"
        figures = {"ping": http("GET", f"{base}/ping")[0]}
        status, body = http("POST", f"{base}/models", {"model_name": "smoke", "url": str(work / "ddp" / "model")})
        if status != 200:
            raise AssertionError(f"load: {status} {body[:300]!r}")
        status, body = http("GET", f"{base}/models/smoke")
        figures["model"] = json.loads(body)
        chat = {"messages": [{"role": "user", "content": "How do I read a JSON file?"}], "max_tokens": 32,
                "temperature": 0}
        t0 = time.perf_counter()
        status, body = http("POST", f"{base}/models/smoke/invoke", chat)
        figures["invoke_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        if status != 200:
            raise AssertionError(f"invoke: {status} {body[:300]!r}")
        answer = json.loads(body)
        figures["usage"] = answer.get("usage")
        figures["text"] = answer["choices"][0]["text"][:80]
        status, body = http("POST", f"{base}/models/smoke/invoke", b"{not json")
        figures["bad_body"] = [status, body[:120].decode(errors="replace")]
        status, metrics = http("GET", f"{base}/metrics")
        figures["metrics_lines"] = [line for line in metrics.decode().splitlines()
                                    if line.startswith(("flywheel_loaded_models", "flywheel_generated_tokens_total"))][:4]
        figures["unload"] = http("DELETE", f"{base}/models/smoke")[0]
        precision = figures["model"].get("precision")
        if figures["ping"] != 200 or figures["bad_body"][0] != 400 or figures["unload"] != 200:
            raise AssertionError(f"unexpected statuses: {figures}")
        if torch.cuda.is_available() and precision != "bf16":
            raise AssertionError(f"the server loaded the model as {precision}, not bf16")
        return figures
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@step("bench")
def bench(device: str) -> dict:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serving.py"), "--device", device],
                          capture_output=True, text=True, timeout=420, env=env_for_jobs(), check=False)
    print(proc.stdout, flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-3000:]}")
    return {"ratios": [line.strip() for line in proc.stdout.splitlines() if "goal" in line]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps of the DDP job")
    parser.add_argument("--bench", action="store_true", help="also run benchmarks/serving.py on the device")
    parser.add_argument("--out", default=os.environ.get("OUT"))
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible (use --device cpu to rehearse)", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, cuda {torch.version.cuda}, python {sys.version.split()[0]}, "
          f"device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="flywheel-cuda-smoke-"))
    if make_channel(work, 2048) is not None:
        if train(work, args.device, args.steps) is not None:
            engine_checks(work, args.device)
            serve(work)
        train_fsdp(work, args.device, max(args.steps // 10, 8))
    if args.bench:
        bench(args.device)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "summary.json").write_text(json.dumps(RESULTS, indent=2, default=str))
    failed = [r["step"] for r in RESULTS if not r["ok"]]
    print(f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} steps passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
