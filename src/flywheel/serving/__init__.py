"""The inference layer: the serving engine and the multi-model endpoint server.

Layers, top to bottom, each knowing only the one below:

- `http.py`      the HTTP server (SageMaker's multi-model and single-model contracts, /metrics);
                 imports no torch, maps the typed errors of `errors.py` to status codes in one place.
- `registry.py`  which models are loaded, the memory budget, idle eviction; imports torch only when a
                 model is loaded.
- `engine.py`    the scheduler: continuous batching over KV-cache slots, prefix caching, admission
                 control, timeouts, token streaming. Knows no HTTP.
- `runner.py`    the model runner: loads an artifact, picks its precision, owns the KV cache, runs
                 prefill and the batched decode step.
- `sampling.py`  greedy and sampled next tokens (temperature, top-k, top-p, per-request seeds).

`params.py` parses invocation bodies, `metrics.py` keeps the serving metrics (Prometheus text and
CloudWatch EMF lines, names from `flywheel.observability.catalogue`), `settings.py` reads the
environment. The container entry point is `containers/inference/serve`.
"""
