"""Serving metrics: kept per model, read as Prometheus text at GET /metrics, logged as CloudWatch EMF.

Metric names come from `flywheel.observability.catalogue` (the one catalogue every emitter and the
dashboard share); `PROMETHEUS` below is the one place that names their Prometheus spelling. Three
Prometheus-only series have no CloudWatch twin: `flywheel_loaded_models`, `flywheel_batch_size_peak`
and `flywheel_requests_total` by outcome.

EMF lines go to a sink (stdout by default, which SageMaker ships to CloudWatch Logs): one line per
finished request (time to first token, time per output token) and, at most every `emf_interval_s`,
one per gauge with the samples seen since the last flush (queue depth, batch size, tokens/s,
prefix-cache hits). The engine's lines are about the model, not a request: it does not know which
caller a token belongs to. What belongs to one request goes in `ServingMetrics.log_invocation`, a
structured JSON log line (Powertools Logger's keys: `level`, `message`, `timestamp`, `service`,
`correlation_id`) that the HTTP layer writes once per invocation with the caller's request id.
Knows no torch and no HTTP.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from flywheel.observability.catalogue import CatalogueError, emf_line

# Catalogue name -> (Prometheus name, type).
PROMETHEUS = {
    "TimeToFirstToken": ("flywheel_time_to_first_token_ms", "summary"),
    "TimePerOutputToken": ("flywheel_time_per_output_token_ms", "summary"),
    "QueueDepth": ("flywheel_queue_depth", "gauge"),
    "BatchSize": ("flywheel_batch_size", "gauge"),
    "BatchSizePeak": ("flywheel_batch_size_peak", "gauge"),  # Prometheus only
    "TokensPerSecond": ("flywheel_tokens_per_second", "gauge"),
    "PrefixCacheHits": ("flywheel_prefix_cache_hit_tokens_total", "counter"),
    "ModelLoads": ("flywheel_model_loads_total", "counter"),
    "ModelEvictions": ("flywheel_model_evictions_total", "counter"),
}
LOADED_MODELS = "flywheel_loaded_models"
REQUESTS = "flywheel_requests_total"
GENERATED_TOKENS = "flywheel_generated_tokens_total"
_MAX_SAMPLES = 100  # EMF allows 100 values per metric in one line
TOKENS_WINDOW_S = 10.0


_STDOUT_LOCK = threading.Lock()


def stdout_sink(line: str) -> None:
    # One write per line under a lock: the engine thread and the HTTP threads log at once, and a line
    # split by another thread's would be neither valid EMF nor valid JSON.
    with _STDOUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class ModelMetrics:
    """The counters of one loaded model; the engine calls these from its step loop and consumers."""

    def __init__(self, model: str, version: str, sink: Callable[[str], None] | None,
                 emf_interval_s: float = 10.0):
        self.model, self.version = model, version
        self._sink, self._interval = sink, emf_interval_s
        self._lock = threading.Lock()
        self.ttft_ms = [0, 0.0]  # count, sum
        self.tpot_ms = [0, 0.0]
        self.queue_depth = 0
        self.batch_size = 0
        self.peak_batch_size = 0
        self.prefix_hit_tokens = 0
        self.generated_tokens = 0
        self.requests: dict[str, int] = {}
        self._window: deque[tuple[float, int]] = deque()  # (step time, tokens) over TOKENS_WINDOW_S
        self._samples = {"QueueDepth": [], "BatchSize": []}
        self._hits_flushed = 0
        self._last_flush = time.monotonic()

    # --- called by the engine -------------------------------------------------------------------
    def step(self, batch_size: int, queue_depth: int, tokens: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.batch_size, self.queue_depth = batch_size, queue_depth
            self.peak_batch_size = max(self.peak_batch_size, batch_size)
            self.generated_tokens += tokens
            self._window.append((now, tokens))
            while self._window and self._window[0][0] < now - TOKENS_WINDOW_S:
                self._window.popleft()
            for name, value in (("QueueDepth", queue_depth), ("BatchSize", batch_size)):
                if len(self._samples[name]) < _MAX_SAMPLES:
                    self._samples[name].append(value)
            due = self._sink is not None and now - self._last_flush >= self._interval
        if due:
            self.flush()

    def idle(self, queue_depth: int) -> None:
        with self._lock:
            self.batch_size, self.queue_depth = 0, queue_depth

    def prefix_hit(self, tokens: int) -> None:
        with self._lock:
            self.prefix_hit_tokens += tokens

    def request_done(self, outcome: str, ttft_s: float | None = None, tokens: int = 0,
                     decode_s: float = 0.0) -> None:
        """One request finished (`outcome`: ok, timeout, overloaded)."""
        with self._lock:
            self.requests[outcome] = self.requests.get(outcome, 0) + 1
            if ttft_s is not None:
                self.ttft_ms[0] += 1
                self.ttft_ms[1] += ttft_s * 1e3
            tpot = decode_s * 1e3 / (tokens - 1) if tokens > 1 else None
            if tpot is not None:
                self.tpot_ms[0] += 1
                self.tpot_ms[1] += tpot
        if self._sink is not None and ttft_s is not None:
            dims = {"ModelVersion": self.version}
            props = {"model": self.model, "completion_tokens": tokens}
            self._emit("TimeToFirstToken", ttft_s * 1e3, dims, props)
            if tpot is not None:
                self._emit("TimePerOutputToken", tpot, dims, props)

    # --- read -----------------------------------------------------------------------------------
    def tokens_per_second(self) -> float:
        with self._lock:
            if not self._window:
                return 0.0
            now = time.monotonic()
            total = sum(t for ts, t in self._window if ts >= now - TOKENS_WINDOW_S)
            return total / TOKENS_WINDOW_S

    def flush(self) -> None:
        """Write the gauges' samples since the last flush as EMF lines."""
        if self._sink is None:
            return
        with self._lock:
            samples = {k: v[:] for k, v in self._samples.items()}
            for v in self._samples.values():
                v.clear()
            hits, self._hits_flushed = self.prefix_hit_tokens - self._hits_flushed, self.prefix_hit_tokens
            self._last_flush = time.monotonic()
        for name, values in samples.items():
            if values:
                self._emit(name, values, {}, {"model": self.model, "model_version": self.version})
        self._emit("TokensPerSecond", self.tokens_per_second(), {"ModelVersion": self.version},
                   {"model": self.model})
        self._emit("PrefixCacheHits", hits, {"ModelVersion": self.version}, {"model": self.model})

    def _emit(self, name, value, dims, props) -> None:
        try:
            self._sink(emf_line(name, value, dims, properties=props))
        except (CatalogueError, OSError, ValueError):
            pass  # a metric line must never fail a request


class ServingMetrics:
    """All models' metrics plus server-wide counters; renders the Prometheus exposition text."""

    def __init__(self, emf: bool = True, sink: Callable[[str], None] | None = None,
                 emf_interval_s: float = 10.0, log_sink: Callable[[str], None] | None = None):
        self._sink = (sink or stdout_sink) if emf else None
        self._log_sink = log_sink or sink or stdout_sink  # request logs are kept even with EMF off
        self._interval = emf_interval_s
        self._lock = threading.Lock()
        self._models: dict[str, ModelMetrics] = {}
        self.loads: dict[str, int] = {}
        self.evictions: dict[str, int] = {}

    def for_model(self, model: str, version: str) -> ModelMetrics:
        with self._lock:
            m = self._models[model] = ModelMetrics(model, version, self._sink, self._interval)
            return m

    def model_loaded(self, model: str, version: str) -> None:
        with self._lock:
            self.loads[version] = self.loads.get(version, 0) + 1
        if self._sink is not None:
            self._sink(emf_line("ModelLoads", 1, {"ModelVersion": version}, properties={"model": model}))

    def model_unloaded(self, model: str, version: str, evicted: bool) -> None:
        with self._lock:
            self._models.pop(model, None)
            if evicted:
                self.evictions[version] = self.evictions.get(version, 0) + 1
        if evicted and self._sink is not None:
            self._sink(emf_line("ModelEvictions", 1, {"ModelVersion": version}, properties={"model": model}))

    def log_invocation(self, *, request_id: str | None, model: str, status: int, latency_ms: float,
                       model_version: str | None = None, usage: dict | None = None, stream: bool = False,
                       error: str | None = None) -> None:
        """One structured log line for one invocation, carrying the caller's request id (None: the caller
        sent none) as `correlation_id` and `request_id`, so Logs Insights joins it to the API's lines."""
        record = {"level": "INFO" if status < 500 else "ERROR", "location": "serving.http",
                  "message": "invocation", "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "service": "serving", "correlation_id": request_id, "request_id": request_id,
                  "model": model, "model_version": model_version, "status": status,
                  "latency_ms": round(latency_ms, 3), "stream": stream}
        if usage:
            record.update({k: usage[k] for k in ("prompt_tokens", "completion_tokens", "cached_prompt_tokens")
                           if k in usage})
        if error:
            record["error"] = error
        try:
            self._log_sink(json.dumps(record, separators=(",", ":"), default=str))
        except (OSError, ValueError):
            pass  # a log line must never fail a request

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        with self._lock:
            models = list(self._models.values())
            loads, evictions = dict(self.loads), dict(self.evictions)
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        def labels(m: ModelMetrics) -> str:
            return f'model="{_esc(m.model)}",model_version="{_esc(m.version)}"'

        family(LOADED_MODELS, "gauge", "models loaded in this server")
        out.append(f"{LOADED_MODELS} {len(models)}")
        for key, help_ in (("TimeToFirstToken", "time from request to first generated token"),
                           ("TimePerOutputToken", "mean time between generated tokens per request")):
            name = PROMETHEUS[key][0]
            family(name, "summary", help_)
            for m in models:
                count, total = m.ttft_ms if key == "TimeToFirstToken" else m.tpot_ms
                out.append(f"{name}_count{{{labels(m)}}} {count}")
                out.append(f"{name}_sum{{{labels(m)}}} {total:.3f}")
        gauges = (("QueueDepth", "requests waiting for a batch slot", lambda m: m.queue_depth),
                  ("BatchSize", "sequences in the last decoding step", lambda m: m.batch_size),
                  ("BatchSizePeak", "most sequences in one decoding step so far", lambda m: m.peak_batch_size),
                  ("TokensPerSecond", f"generated tokens per second over {TOKENS_WINDOW_S:.0f} s",
                   lambda m: round(m.tokens_per_second(), 3)))
        for key, help_, read in gauges:
            name = PROMETHEUS[key][0]
            family(name, "gauge", help_)
            out += [f"{name}{{{labels(m)}}} {read(m)}" for m in models]
        name = PROMETHEUS["PrefixCacheHits"][0]
        family(name, "counter", "prompt tokens reused from the prefix cache")
        out += [f"{name}{{{labels(m)}}} {m.prefix_hit_tokens}" for m in models]
        family(GENERATED_TOKENS, "counter", "tokens generated")
        out += [f"{GENERATED_TOKENS}{{{labels(m)}}} {m.generated_tokens}" for m in models]
        family(REQUESTS, "counter", "requests by outcome")
        for m in models:
            out += [f'{REQUESTS}{{{labels(m)},outcome="{o}"}} {c}' for o, c in sorted(m.requests.items())]
        for key, counts in (("ModelLoads", loads), ("ModelEvictions", evictions)):
            name, _ = PROMETHEUS[key]
            family(name, "counter", f"{key} by model version")
            out += [f'{name}{{model_version="{_esc(v)}"}} {c}' for v, c in sorted(counts.items())]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
