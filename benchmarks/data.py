"""Benchmark of the cleaning job: documents/s, and how its time grows with 10x the input.

The corpus is real text already on the machine: docstrings of the standard library and of installed
packages (numpy, pandas, matplotlib, pyarrow), plus the demo corpus's dirty sample. The base input is
every 10th document of it, the 10x input all of it, so both come from the same distribution and the
larger one is not the smaller one repeated (which dedup would remove, flattering the ratio). Both runs
use the same tasks and workers, in this process, one after the other; the goal is linear cost:
time(10x) / time(1x) <= 11.

    python benchmarks/data.py                       # every core
    python benchmarks/data.py --workers 2 --tasks 4 --scale 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from flywheel.data.demo_corpus import MODULES, dirty_records, stdlib_docstrings
from flywheel.data.prepare import CleaningConfig, prepare

EXTRA_MODULES = ("numpy", "pandas", "pyarrow", "matplotlib.pyplot", "email", "http.server", "asyncio",
                 "concurrent.futures", "multiprocessing", "logging.handlers", "configparser", "optparse",
                 "pydoc", "ftplib", "smtplib", "imaplib", "ssl", "mailbox", "codecs", "locale", "gettext",
                 "ast", "dis", "tokenize", "pdb", "doctest", "importlib.metadata", "decimal", "unittest.mock")


def write_corpus(folder: Path, texts: list[str], files: int) -> int:
    folder.mkdir(parents=True)
    records = [{"text": t} for t in texts] + [r for r in dirty_records(texts) if isinstance(r, dict)]
    for i in range(files):
        with (folder / f"part_{i:03d}.jsonl").open("w") as f:
            for record in records[i::files]:
                f.write(json.dumps(record) + "\n")
    return sum(len(json.dumps(r)) for r in records)


def run(raw: Path, out: Path, tasks: int, workers: int) -> tuple[float, dict]:
    t0 = time.perf_counter()
    manifest = prepare(str(raw), out, CleaningConfig(), tasks=tasks, workers=workers, log=lambda *_: None)
    return time.perf_counter() - t0, manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--tasks", type=int)
    args = parser.parse_args()
    tasks = args.tasks or args.workers

    texts = stdlib_docstrings(MODULES + EXTRA_MODULES)
    base = texts[::args.scale]
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
        tmp = Path(tmp)
        sizes = {"1x": write_corpus(tmp / "raw1", base, files=max(tasks, 4)),
                 f"{args.scale}x": write_corpus(tmp / "rawN", texts, files=max(tasks, 4) * args.scale)}
        print(f"corpus: {len(base)} and {len(texts)} documents ({sizes['1x'] / 1e6:.2f} and "
              f"{sizes[f'{args.scale}x'] / 1e6:.2f} MB); tasks={tasks} workers={args.workers} "
              f"cpus={os.cpu_count()}")
        results, counts = {}, {}
        for label, raw in (("1x", tmp / "raw1"), (f"{args.scale}x", tmp / "rawN")):
            seconds, manifest = run(raw, tmp / f"out_{label}", tasks, args.workers)
            results[label] = seconds
            n = counts[label] = manifest["documents_in"]
            print(f"{label:>4}: {n} documents in, {manifest['documents_kept']} kept, {seconds:.1f} s, "
                  f"{n / seconds:.1f} documents/s, {sizes[label] / 1e6 / seconds:.3f} MB/s")
    ratio = results[f"{args.scale}x"] / results["1x"]
    # The marginal rate strips the fixed cost (process start-up per stage, imports, tokenizer training).
    extra_docs = counts[f"{args.scale}x"] - counts["1x"]
    extra_time = results[f"{args.scale}x"] - results["1x"]
    if extra_time > 0:
        print(f"marginal rate: {extra_docs / extra_time:.1f} documents/s "
              f"(fixed cost per run ≈ {results['1x'] - counts['1x'] * extra_time / extra_docs:.1f} s)")
    print(f"time ratio {args.scale}x / 1x = {ratio:.2f} (goal <= {args.scale * 1.1:.0f}: "
          f"{'met' if ratio <= args.scale * 1.1 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
