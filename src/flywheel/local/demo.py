"""`flywheel demo`: one short turn on a laptop — corpus → cleaning job → training job → samples.

Every stage runs the entry point SageMaker runs in AWS, as a local process with the SageMaker contract
pointed at folders under `--out`: `training_jobs/prepare_data.py` (a Processing job there) and
`training_jobs/train.py` (a training job there). The demo then loads the artifact the job wrote, samples
from it, and writes `report.json` and `report.md`: what each stage did and how long it took.

    flywheel demo --out runs/demo            # what `make demo` runs
    flywheel demo --out runs/quick --steps 20 --preset debug
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SAMPLE_PROMPTS = ("Return a new list", "The default value", "If the argument is")
CHAT_PROMPTS = ("What does sorted() return?",)


def entry_point(script: str, module: str) -> list[str]:
    """The job's script from a checkout (what the images run), else the installed module."""
    path = REPO / "training_jobs" / script
    return [sys.executable, str(path)] if path.is_file() else [sys.executable, "-m", module]


def run_stage(name: str, command: list[str], log: Path, stages: list[dict]) -> None:
    print(f"==> {name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(command, check=False, stdout=out, stderr=subprocess.STDOUT, env={**os.environ,
                              "PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - start
    stages.append({"stage": name, "seconds": round(seconds, 2), "exit_code": proc.returncode, "log": str(log)})
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
        raise SystemExit(f"{name} failed (exit {proc.returncode}); last lines of {log}:\n{tail}")
    print(f"    done in {seconds:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flywheel demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/demo", help="folder for every stage's output")
    parser.add_argument("--preset", default="small", help="model preset (debug trains in seconds)")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from flywheel.data import demo_corpus

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages: list[dict] = []

    start = time.perf_counter()
    raw = out / "raw"
    demo_corpus.build(raw)
    stages.append({"stage": "corpus", "seconds": round(time.perf_counter() - start, 2), "path": str(raw)})
    print(f"==> corpus: {raw}", flush=True)

    data = out / "data"
    run_stage("prepare_data", entry_point("prepare_data.py", "flywheel.data.prepare") +
              ["--input", str(raw), "--output", str(data)], out / "prepare_data.log", stages)

    model_dir = out / "model"
    run_stage("train", entry_point("train.py", "flywheel.training.job") + [
        "--preset", args.preset, "--max-steps", str(args.steps), "--seed", str(args.seed),
        "--train-dir", str(data), "--model-dir", str(model_dir), "--checkpoint-dir", str(out / "checkpoints"),
        "--output-data-dir", str(out / "train-output"), "--failure-file", str(out / "failure"),
    ], out / "train.log", stages)

    from flywheel.model.artifact import load_artifact
    from flywheel.model.sample import generate

    artifact = load_artifact(model_dir)
    tok = artifact.tokenizer
    samples = []
    for prompt in SAMPLE_PROMPTS:
        samples.append({"prompt": prompt, "completion": tok.decode(generate(artifact, tok.encode(prompt), 40))})
    for question in CHAT_PROMPTS:
        ids, _ = tok.encode_chat([{"role": "user", "content": question}], add_generation_prompt=True)
        samples.append({"chat": question, "answer": tok.decode(generate(artifact, ids, 40))})

    manifest = _read_json(data / "manifest.json")
    report = {
        "stages": stages,
        "data": {k: manifest.get(k) for k in ("data_version", "documents_in", "documents_kept", "dropped")},
        "model": {"version": artifact.version, "data_version": artifact.meta.get("data_version"),
                  "metrics": artifact.meta.get("metrics", {}), "path": str(model_dir)},
        "samples": samples,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(render_markdown(report))
    print(render_markdown(report))
    print(f"report: {out / 'report.md'}")
    return 0


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def render_markdown(report: dict) -> str:
    lines = ["# Flywheel demo", "", "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {s['stage']} | {s['seconds']} |" for s in report["stages"]]
    data = report["data"]
    lines += ["", "## Data", "", (f"- version `{data.get('data_version')}`: {data.get('documents_in')} documents in, "
              f"{data.get('documents_kept')} kept"), f"- dropped: {json.dumps(data.get('dropped'))}"]
    model = report["model"]
    lines += ["", "## Model", "", f"- version `{model['version']}`, trained on data `{model['data_version']}`",
              f"- metrics: {json.dumps(model['metrics'])}", "", "## Samples", ""]
    for s in report["samples"]:
        if "prompt" in s:
            lines.append(f"- **{s['prompt']}**{s['completion']}")
        else:
            lines.append(f"- user: {s['chat']} → assistant: {s['answer']}")
    return "\n".join(lines) + "\n"
