"""The model runner: one loaded artifact on one device, its precision, its KV cache and two calls.

- `prefill(slot, ids, start)`  runs a prompt (or the rest of one) into a cache slot; returns the last
                               position's logits (V,).
- `decode(tokens, positions)`  one token for each of the first B = len(tokens) slots; rows may be at
                               different positions; returns logits (B, V).

Both run through `flywheel.model.decode.Decoder`, the GPT's lean inference step (no module calls,
the pad token masked inside the output layer, and on the CPU decode steps written and attended by
a compiled kernel, `flywheel.model.kernels`). The engine keeps its running sequences in slots
0..B-1 so the decode step reads the cache as a view: no gather per step.

Threads (CPU): a decode step of a few rows is a chain of small ops, and whether splitting them
across OpenMP workers pays depends on the precision, the kernels and the machine: on 2 idle cores,
bench preset, int8 steps of 1-4 rows through fbgemm were as fast or slower on two threads (a single
stream through the engine made 460-490 tokens/s on two against 580-600 on one), while through
flywheel's compiled Linears, which split even a one-row product (flywheel.model.decode), two were
faster: a single stream 2,370-2,380 against 2,240-2,290 tokens/s at fp16, 3,490-3,530 against
3,130 at int8. Wide steps gain from the split on an idle machine (batch 32, int8 through fbgemm:
7.6 against 10.5 ms a step) but stall on a descheduled worker when another process or another
model's engine holds a core. Only timing can tell, so a `ThreadTuner` per size class, narrow (at
most `NARROW_BATCH` rows; one thread first) and wide (`WIDE_BATCH` rows or more; the threads torch
had when the first runner was built first), times a few steps at each candidate, keeps the faster
for the next few hundred, then looks again. Switching costs milliseconds (the worker pool resizes),
so between the two sizes the setting stays as it was, and the first step after a switch is not
timed. A model is built on a passing thread (`on_passing_thread`): the OpenMP team a loading thread
leaves behind would slow every step.

Precision is chosen per model: the artifact's config.json may say `"serving": {"precision": ...}`;
otherwise `auto` is bf16 on CUDA and, on CPU, by size and by what this CPU runs (`resolve_precision`
has the measured crossovers): fp32 for tiny models; from a few million parameters up, int8 (int8
weights, each token's activations quantized on their own scale, so a row's result never depends on
its batch) where flywheel's compiled int8 Linear is built (x86-64), else fp16 weights
(`flywheel.model.quant`: float16 weights, float32 activations) up to tens of millions and fbgemm's
int8 from there. Under fp16 and int8 the KV cache holds float16 (`cache_dtype`).
benchmarks/serving.py prints all three at the bench preset, int8 against fp32 through the engine on
a trained 25.4M model, and one decode step of each at the base preset's 111M. Knows no HTTP and no
scheduling.
"""

from __future__ import annotations

import copy
import threading
import time
import warnings

import torch

from flywheel.model import kernels
from flywheel.model.artifact import Artifact
from flywheel.model.decode import Decoder
from flywheel.model.gpt import KVCache
from flywheel.model.quant import fbgemm_fp16_keeps_rows, quantize_fp16, quantize_int8

NARROW_BATCH = 4  # decode steps of at most this many rows: the narrow steps' tuner, one thread first
WIDE_BATCH = 8  # from this many rows on: the wide steps' tuner, the configured count first
_configured_threads: int | None = None  # torch's intra-op threads before any runner changed them


def configured_threads() -> int:
    """The intra-op threads the process was configured with (FLYWHEEL_TORCH_THREADS or torch's default).

    Read when the first runner is built: runners switch the global setting afterwards, so a model
    loaded later would otherwise take one thread for the configured count.
    """
    global _configured_threads
    if _configured_threads is None:
        _configured_threads = torch.get_num_threads()
    return _configured_threads


def on_passing_thread(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` run on a thread that ends when it returns: its result, or its exception.

    OpenMP (libgomp, which torch's CPU ops use) keeps a worker team alive for every live thread that
    has run a parallel region, and once a process has more such workers than CPUs it stops spinning
    between regions: each later region, on any thread, pays a futex wake-up per worker. A decode step
    is some sixty small regions, so one team left behind by loading a model (initializing, quantizing)
    on a thread that lives on (the server's main thread) made two-thread decode steps on the engine's
    thread no faster than one-thread ones (bench preset, batch 32, int8: about 11 ms a step either
    way, 7.6 ms with two threads once the loader's team is gone). Set-up work runs here instead,
    and its team goes with the thread.
    """
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="flywheel-setup")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


class ThreadTuner:
    """Chooses the intra-op threads for one size class of decode steps by timing them (wall seconds per row).

    Probing: each candidate runs `probe` timed steps (after one untimed step that absorbs the pool
    resize); then the one with the lower mean seconds-per-row runs `hold` steps; then it probes again.
    """

    def __init__(self, candidates: list[int], probe: int = 12, hold: int = 400):
        self.candidates = list(dict.fromkeys(candidates))
        self.probe, self.hold = probe, hold
        self.choice = self.candidates[0]
        self._costs: list[list[float]] = [[] for _ in self.candidates]
        self._probing = 0 if len(self.candidates) > 1 else None  # candidate index, or None: holding
        self._held = 0

    def threads(self) -> int:
        """The thread count the next step of its class should run with."""
        return self.candidates[self._probing] if self._probing is not None else self.choice

    def record(self, threads: int, seconds_per_row: float, timed: bool) -> None:
        if self._probing is None:
            self._held += 1
            if self._held >= self.hold and len(self.candidates) > 1:
                self._probing, self._costs = 0, [[] for _ in self.candidates]
            return
        if threads != self.candidates[self._probing] or not timed:
            return
        costs = self._costs[self._probing]
        costs.append(seconds_per_row)
        if len(costs) >= self.probe:
            self._probing += 1
            if self._probing == len(self.candidates):
                means = [sum(c) / len(c) for c in self._costs]
                self.choice = self.candidates[means.index(min(means))]
                self._probing, self._held = None, 0


FP16_AUTO_MIN_PARAMS = 2_000_000  # `auto` on CPU: fp32 below this many Linear parameters, a quantized precision from here
INT8_AUTO_MIN_PARAMS = 20_000_000  # ... int8 from here on even where fbgemm runs it (no compiled kernel), fp16 below


def linear_params(config) -> int:
    """Parameters in the Linear layers (what int8 quantizes): the blocks' matrices and the output layer."""
    return config.n_layer * 12 * config.n_embd * config.n_embd + config.vocab_size * config.n_embd


def resolve_precision(requested: str, meta: dict, device: torch.device, config=None) -> str:
    """The precision a model is served at: the request (FLYWHEEL_PRECISION), else the artifact's
    `serving.precision`, else `auto`: bf16 on CUDA; on CPU by the model's Linear parameters, fp32
    below FP16_AUTO_MIN_PARAMS, and from there int8 where flywheel's compiled int8 Linear is built
    (`kernels.int8_linear()`), else fp16 weights below INT8_AUTO_MIN_PARAMS and int8 from there on
    (int8 there too where fbgemm's float16 GEMM mixes rows, `quant.fbgemm_fp16_keeps_rows`).

    One decode step on 2 cores (AMD EPYC with AVX-512 VNNI), ms, fp32 / fp16 / int8, with flywheel's
    compiled kernels (random weights, rows at positions 100-200; the faster of 1 and 2 threads):

        1.05M (small preset)  batch 1: 0.31 / 0.21 / 0.20   batch 32:  2.23 /  2.09 /  1.49
        3.3M  (bench preset)  batch 1: 0.73 / 0.27 / 0.24   batch 32:  4.70 /  3.82 /  2.50
        10.8M                 batch 1: 4.62 / 0.70 / 0.53   batch 32: 13.9  /  8.84 /  5.76
        25.4M                 batch 1: 9.04 / 1.66 / 0.88   batch 32: 28.0  / 17.4  / 10.5
        111M  (base preset)   batch 1: 32.0 / 8.07 / 4.87   batch  8: 52.7  / 18.7  /  8.64

    Tiny models are all per-op overhead; from a few million parameters reading the weights
    dominates, and the compiled int8 Linear reads a quarter of fp32's bytes and quantizes each row
    inside the same call. On CPUs without VNNI it runs 7-bit activations through AVX2; forced to
    that variant here (bench preset, one thread, alternate runs) a step took 0.270 / 0.93 / 4.31 ms
    at 1 / 8 / 32 rows, against 0.263 / 0.76 / 3.45 for the VNNI one and 0.325 / 1.42 / 5.28 for
    fp16 weights: still the fastest, so `auto` serves int8 wherever the kernel is built. Where it is
    not, int8 goes through fbgemm plus six torch calls a layer to keep rows independent
    (flywheel.model.quant), which cost more than its smaller weights save until the weights outgrow
    the caches. Measured that way (before the compiled int8 Linear, fp16
    through fbgemm from 10.6M), int8 was the slower below 10M (bench batch 1: 0.98 against fp16's
    0.33 ms), tied fp16 on batched steps at 10.6M (11.8 / 12.0 ms) and won them at 25.2M
    (18.1 / 22.6), but won single rows only at 111M (7.44 / 8.40): hence fp16 below 20M there.
    That holds where fbgemm runs its AVX-512 kernel. Its AVX2 kernel gives a row other numbers (by
    an ulp or so) in a batch than alone, where int8's rows are exact, and int8 is the faster there
    from about 10M and on batched steps: through fbgemm's AVX2 kernels (FBGEMM_ENABLE_INSTRUCTIONS=AVX2
    here, no flywheel kernels, one thread, batch 1 and 32, ms, fp32 / fp16 / int8): bench (3.3M)
    0.91 / 0.98 / 1.21 and 9.57 / 11.35 / 6.54; 12.2M 5.16 / 4.07 / 2.12 and 25.2 / 24.7 / 19.9;
    29.4M 10.9 / 8.93 / 3.46 and 59.1 / 60.1 / 36.5. So without the kernels on such a CPU, `auto`
    serves int8 from 2M.
    `auto` keeps fp32 below 2M, where fp16 and int8 are faster too (1.05M above), so that the tests'
    and the demo's small models keep float arithmetic."""
    choice = requested
    if choice == "auto":
        choice = (meta.get("serving") or {}).get("precision", "auto")
    if choice == "auto":
        if device.type == "cuda":
            choice = "bf16"
        else:
            size = linear_params(config) if config is not None else INT8_AUTO_MIN_PARAMS
            if size < FP16_AUTO_MIN_PARAMS:
                choice = "fp32"
            elif (size >= INT8_AUTO_MIN_PARAMS or kernels.int8_linear() is not None
                  or not fbgemm_fp16_keeps_rows()):
                choice = "int8"
            else:
                choice = "fp16"
    if choice in ("int8", "fp16") and device.type != "cpu":
        choice = "bf16"  # fbgemm's int8 and fp16-weight kernels are CPU-only; bf16 is the GPU's cheap precision
    if choice not in ("fp32", "fp16", "int8", "bf16"):
        raise ValueError(f"unknown precision {choice!r}")
    return choice


def param_bytes(config, precision: str) -> int:
    """Bytes the weights take at `precision` (int8: Linear weights at 1 byte, embeddings stay fp32)."""
    embed = config.vocab_size * config.n_embd + config.block_size * config.n_embd
    linear = config.num_params() - embed
    if precision == "int8":
        return embed * 4 + linear * 1 + config.vocab_size * config.n_embd  # + quantized lm_head copy
    if precision == "fp16":
        # One float16 copy of each Linear: fbgemm's packing, or the compiled kernel's panels instead.
        return embed * 4 + (linear + config.vocab_size * config.n_embd) * 2  # + fp16 lm_head copy
    return (embed + linear) * (2 if precision == "bf16" else 4)


def cache_dtype(precision: str) -> torch.dtype:
    """The KV cache's element type: bf16 with bf16 (CUDA); float16 under the CPU's quantized
    precisions where the compiled attention reads it, float32 otherwise.

    A wide decode step streams every row's cached keys and values once per layer, and at 32 rows
    they outgrow the CPU's caches before the weights do: bench preset, 2 cores, 32 rows at positions
    160-199, the attention of one layer took 150-160 us with its cache alone in L3 and 355-385 us
    with four layers' (69 MB) cycling through it, 270-280 us with those in float16 (alternate runs).
    A whole int8 step of 32 rows: 2.55-2.84 against 2.04-2.41 ms; 32 concurrent streams through the
    engine, two engines alternating 5 rounds on a busy machine: 4,519-6,395 against 5,235-7,435
    tokens/s, each round 8-31% faster with float16 (fp16 weights: 1-10%). A prefill pays for
    widening what it attends to (60 tokens: 2.90 against 2.74 ms). Keys and values are rounded to
    float16 once, as they are written; queries, scores and sums stay float32. The cache takes half
    the memory too, so the memory budget holds more models. fp32 models keep a float32 cache, so
    their steps compute what `GPT.forward` does.
    """
    if precision == "bf16":
        return torch.bfloat16
    if precision in ("fp16", "int8") and kernels.decode_attention() is not None:
        return torch.float16
    return torch.float32


def cache_bytes(config, n_slots: int, precision: str) -> int:
    per = cache_dtype(precision).itemsize
    return 2 * config.n_layer * n_slots * config.block_size * config.n_embd * per


class ModelRunner:
    def __init__(self, artifact: Artifact, n_slots: int, precision: str = "auto",
                 device: str | torch.device | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.precision = resolve_precision(precision, artifact.meta, self.device, artifact.config)
        self.config = artifact.config
        model = artifact.model.eval()
        if self.precision == "int8":
            with warnings.catch_warnings():  # torch's deprecation notes on quantized tensors
                warnings.simplefilter("ignore")
                model = quantize_int8(copy.deepcopy(model))  # the artifact keeps its float model
        elif self.precision == "fp16":
            model = quantize_fp16(copy.deepcopy(model))
        elif self.precision == "bf16":
            model = model.to(torch.bfloat16)
        self.model = model.to(self.device)
        self.cache = KVCache.allocate(self.config, n_slots, device=self.device, dtype=cache_dtype(self.precision))
        self.max_len = self.cache.max_len
        self.pad_id = artifact.tokenizer.pad_id
        # The lean step (flywheel.model.decode) runs prefill and decode; padding is never a real
        # next token, so it is masked inside the output layer.
        self.decoder = Decoder(self.model, self.cache, mask_token=self.pad_id)
        self.threads = configured_threads()
        self.tuner = ThreadTuner([self.threads, 1])  # wide steps: the configured count first
        self.narrow_tuner = ThreadTuner([1, self.threads])  # narrow ones: one thread first

    @property
    def n_slots(self) -> int:
        return self.cache.n_slots

    def prefill(self, slot: int, ids: list[int], start: int) -> torch.Tensor:
        return self.decoder.prefill(slot, ids, start)  # (V,) float32

    def decode(self, tokens: list[int], positions: list[int], prefix_slots: list[int] | None = None,
               prefix_lens: list[int] | None = None) -> torch.Tensor:
        """Logits (B, V) float32; optionally the slot and length of each row's shared prefix (Decoder.decode)."""
        rows = len(tokens)
        if self.device.type != "cpu" or NARROW_BATCH < rows < WIDE_BATCH:
            return self.decoder.decode(tokens, positions, prefix_slots, prefix_lens)
        tuner = self.narrow_tuner if rows <= NARROW_BATCH else self.tuner
        threads = tuner.threads()
        switched = self._use_threads(threads)
        start = time.perf_counter()
        logits = self.decoder.decode(tokens, positions, prefix_slots, prefix_lens)
        tuner.record(threads, (time.perf_counter() - start) / rows, timed=not switched)
        return logits

    def release(self) -> None:
        """Hand torch's intra-op threads back as configured (the engine closes; others re-tune)."""
        if self.device.type == "cpu":
            self._use_threads(self.threads)

    @staticmethod
    def _use_threads(n: int) -> bool:
        """Set torch's intra-op threads to n; whether that changed them."""
        if n == torch.get_num_threads():
            return False
        torch.set_num_threads(n)
        return True

    def copy(self, src: int, dst: int, length: int) -> None:
        if length > 0 and src != dst:
            self.cache.copy_prefix(src, dst, length)
