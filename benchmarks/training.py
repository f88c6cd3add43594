"""Training throughput: tokens/s, achieved FLOP/s and its fraction of a matmul peak measured in the same run.

    .venv/bin/python benchmarks/training.py                  # bench preset, batch 16 x 256, fp32
    .venv/bin/python benchmarks/training.py --threads 1     # per-CPU-second figures that load cannot skew

Measures, interleaved round by round (so machine load hits all three alike):

    matmul     a 2048 x 2048 fp32 torch.mm: the practical peak of this machine's BLAS (2·n³ FLOPs each)
    bare       a nanoGPT-style loop on the same GPT: `model(x, y)` loss, backward, clip, AdamW, fixed batch
    job        `flywheel.training.loop.train_step` as the job runs it: deterministic batches gathered from
               memory-mapped shards, global-count loss normalisation, AdamW + warmup/cosine, clipping

and prints the median tokens/s of each loop, achieved FLOP/s (GPTConfig.flops_per_token, the PaLM
estimate nanoGPT uses), the fraction of the matmul peak, and the ratio job/bare: once per wall-clock
second, and once per CPU second of this process (with --threads 1 the CPU-time figures hold even on a
machine shared with other work; multiply by the thread count for an unloaded estimate). NOTES.md gives
nanoGPT ≈ 5,400 tokens/s (≈ 122 GFLOP/s) for this configuration on this 2-core machine; the goal is to
match it. Other processes on the machine lower every figure; the ratios are what this run can vouch for.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from flywheel.data.shards import Split
from flywheel.model import GPT, preset
from flywheel.training.data import TrainBatches
from flywheel.training.distributed import Dist
from flywheel.training.loop import train_step
from flywheel.training.schedule import build_optimizer, build_scheduler


def matmul_flops(n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """FLOP/s of a 2048² fp32 torch.mm: per wall-clock second and per CPU second of this process."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm the BLAS
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        torch.mm(a, b)
    flops = 2 * n**3 * repeats
    return flops / (time.perf_counter() - w0), flops / (time.process_time() - c0)


def build(config, lr: float = 6e-4):
    torch.manual_seed(0)
    model = GPT(config).train()
    optimizer = build_optimizer(model, lr=lr, weight_decay=0.1, betas=(0.9, 0.95), device_type="cpu")
    return model, optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per loop per round")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = preset("bench")  # 4 layers, 4 heads, width 256, context 256, vocab 512
    T, B = config.block_size, args.batch_size
    tokens_per_step = B * T
    flops_per_token = config.flops_per_token(T)

    # The job's data path: shards on disk, memory-mapped, windows gathered by (seed, step).
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    shard = tmp / "train_000000.bin"
    rng.integers(0, config.vocab_size, size=2_000_000, dtype=np.uint16).tofile(shard)
    split = Split("train", 2_000_000, 1, [(np.memmap(shard, dtype=np.uint16, mode="r"), None)])
    batches = TrainBatches(split, block_size=T, batch_size=B, seed=0)
    single = Dist(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))

    job_model, job_opt = build(config)
    job_sched = build_scheduler(job_opt, warmup_steps=10, max_steps=10_000, min_ratio=0.1)
    bare_model, bare_opt = build(config)
    bx, by = batches.get(0, 0)  # the bare loop reuses one batch, as nanoGPT's benchmark does

    def bare_step() -> None:
        _, loss = bare_model(bx, by)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bare_model.parameters(), 1.0)
        bare_opt.step()
        bare_opt.zero_grad(set_to_none=True)

    job_step_index = [0]

    def job_step() -> None:
        train_step(job_model, job_opt, job_sched, batches, job_step_index[0], 1, 1.0, single)
        job_step_index[0] += 1

    def timed(step, n: int) -> tuple[float, float]:
        """Tokens per wall-clock second and per CPU second (the latter is what load cannot take away
        when there is one thread: a descheduled thread consumes no CPU time)."""
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            step()
        return n * tokens_per_step / (time.perf_counter() - w0), n * tokens_per_step / (time.process_time() - c0)

    print(f"config: {config.n_layer} layers, {config.n_head} heads, width {config.n_embd}, context {T}, "
          f"batch {B}, vocab {config.vocab_size}, fp32, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"model: {config.num_params():,} parameters, {flops_per_token / 1e6:.1f} MFLOP per token (fwd+bwd)")
    bare_step(), job_step()  # warm-up: allocator, kernels, optimizer state
    peaks, bare, job = [], [], []
    for r in range(args.rounds):
        peaks.append(matmul_flops())
        bare.append(timed(bare_step, args.steps))
        job.append(timed(job_step, args.steps))
        print(f"round {r + 1}: matmul {peaks[-1][0] / 1e9:.1f} GFLOP/s, bare {bare[-1][0]:,.0f} tokens/s, "
              f"job {job[-1][0]:,.0f} tokens/s", flush=True)

    for clock, i in (("wall-clock", 0), ("CPU-time", 1)):
        peak = statistics.median(p[i] for p in peaks)
        print(f"\nper {clock} second (median of {args.rounds} rounds):")
        print(f"  matmul peak (2048^2 fp32):   {peak / 1e9:8.1f} GFLOP/s")
        for name, rates in (("bare nanoGPT-style loop", bare), ("flywheel training job", job)):
            rate = statistics.median(x[i] for x in rates)
            achieved = rate * flops_per_token
            print(f"  {name + ':':28s} {rate:8,.0f} tokens/s  {achieved / 1e9:6.1f} GFLOP/s  "
                  f"{achieved / peak:5.1%} of matmul peak")
        ratio = statistics.median(x[i] for x in job) / statistics.median(x[i] for x in bare)
        print(f"  job / bare:                  {ratio:8.2f}x")
    if torch.get_num_threads() > 1:
        print("(with several threads, CPU time also counts threads spinning while others are descheduled)")
    print("reference (NOTES.md, not measured here): nanoGPT ≈ 5,400 tokens/s on this machine, unloaded")


if __name__ == "__main__":
    main()
