"""Metrics, tracing and logging for the API, with names, units and dimensions from the catalogue.

`emit("Requests", 1, Route="chat", ModelVersion="v3")` publishes one catalogue metric through
a Powertools `EphemeralMetrics` (isolated, so metrics with different dimensions never share one
EMF line) under every dimension set the catalogue gives it (the detailed set and
its roll-ups), so the dashboard and alarms read exactly what is written here. A metric that is not in
the catalogue, or with the wrong dimensions, raises at once — in tests, not in production charts.

`logger` is a Powertools child logger, so library code logs under the function's own service name.
Tracing goes through `traced` (a method) and `traced_handler` (the Lambda handler): both build
Powertools' shared `Tracer` on first call rather than at import, because constructing a Tracer imports
the X-Ray SDK (≈ 0.3 s here) and the handlers' cold import is a measured budget
(benchmarks/api_cold_start.py); the first invocation pays it instead, once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics

from flywheel.observability.catalogue import emf_dimension_sets, metric

logger = Logger(child=True)
F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer()


def traced(function: F) -> F:
    """`Tracer.capture_method`, applied on the first call."""
    @functools.cache
    def wrapped_once() -> Callable[..., Any]:
        return tracer().capture_method(function)

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrapped_once()(*args, **kwargs)

    return call  # type: ignore[return-value]


def traced_handler(handler: F) -> F:
    """`Tracer.capture_lambda_handler`, applied on the first invocation."""
    @functools.cache
    def wrapped_once() -> Callable[..., Any]:
        return tracer().capture_lambda_handler(handler)

    @functools.wraps(handler)
    def call(event: Any, context: Any) -> Any:
        return wrapped_once()(event, context)

    return call  # type: ignore[return-value]


def emit(name: str, value: float, properties: dict[str, Any] | None = None, **dimensions: str) -> None:
    """`properties` become searchable fields of the EMF line (the catalogue's LOG_PROPERTIES: request_id, ...)."""
    m = metric(name)
    sets = emf_dimension_sets(name, dimensions)
    out = EphemeralMetrics(namespace=m.namespace)
    out.add_metric(name=name, unit=m.unit, value=value)
    for key, val in (properties or {}).items():
        out.add_metadata(key=key, value=val)
    for key, val in sets[0].items():
        out.add_dimension(name=key, value=val)
    for extra in sets[1:]:
        out.add_dimensions(**extra)
    out.flush_metrics()
