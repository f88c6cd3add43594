"""The one catalogue of metrics: every metric Flywheel emits or reads, with its unit and dimensions.

The code that emits (the API Lambdas, the inference server, the training job, the data job, the loop)
and the code that reads (the Pulumi dashboard and alarms, the local report) both take names from here,
so a renamed metric breaks a test instead of silently emptying a chart.

Conventions (CloudWatch embedded metric format, EMF):
- Namespace: `StackNames.metrics_namespace` ("Flywheel").
- Every line carries a `service` dimension whose value is the metric's layer (`api`, `serving`,
  `training`, `data`, `loop`) — the same key Powertools Metrics uses — so dashboards can tell the
  emitters apart.
- Each metric is published under several dimension sets at once (EMF allows that in one line): the
  detailed set (`service` + the metric's own dimensions, e.g. ModelVersion), and its roll-ups
  (by default `service` alone). Alarms read a roll-up, whose dimensions are fixed and known in advance;
  dashboards break down by the detailed set with SEARCH expressions.
- The model version is a dimension wherever a metric is about one model (`ModelVersion`).

Emitting: `print(emf_line("Latency", 412.0, {"Route": "chat", "ModelVersion": "v3"}))` from a Lambda
or any process whose stdout reaches CloudWatch Logs. From Powertools, use `single_metric` with
`emf_dimension_sets(...)`, or print this line. Metrics AWS publishes itself (SageMaker endpoint errors,
pipeline failures) are catalogued too, as `emitted_by="aws"`, so infra reads nothing unlisted; they
cannot be rendered here.

This module knows no boto3, Pulumi or Powertools: it only builds dicts and strings.

    python -c "from flywheel.observability.catalogue import emf_line; print(emf_line('Requests', 1, \
{'Route': 'chat', 'ModelVersion': 'v1'}))"
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flywheel.names import StackNames

NAMESPACE = StackNames().metrics_namespace

# The dimension every Flywheel metric carries; its value is the metric's layer.
SERVICE = "service"

# Layers that emit metrics; the value of the `service` dimension.
LAYERS = ("api", "serving", "training", "data", "loop")

# Units CloudWatch accepts (a subset: the ones this catalogue uses, plus their obvious neighbours).
UNITS = frozenset({
    "Count", "Count/Second", "Milliseconds", "Seconds", "Microseconds", "Percent", "None",
    "Bytes", "Kilobytes", "Megabytes",
})

# CloudWatch limits: 30 dimensions per set, 1024 characters per dimension value,
# 100 values per metric in one EMF line.
_MAX_DIMENSIONS = 30
_MAX_DIMENSION_VALUE = 1024
_MAX_VALUES = 100


class CatalogueError(ValueError):
    """A metric line that does not match the catalogue; the message says which part."""


class UnknownMetricError(CatalogueError, KeyError):
    """A metric name that is not in the catalogue (or not one Flywheel emits itself)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Metric:
    """One metric: what it is called, how it is measured and how it is sliced.

    `dimensions` are the metric's own keys, besides `service`. `rollups` are the extra dimension sets
    it is also published under (each includes `service`); alarms read one of those.
    `sagemaker_regex` is set for training metrics that SageMaker scrapes from the job's log.
    """

    name: str
    unit: str
    layer: str
    description: str
    dimensions: tuple[str, ...] = ()
    rollups: tuple[tuple[str, ...], ...] = ((SERVICE,),)
    namespace: str = NAMESPACE
    emitted_by: str = "flywheel"  # or "aws" for metrics AWS publishes itself
    sagemaker_regex: str | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise CatalogueError(f"metric {self.name}: unit {self.unit!r} is not a CloudWatch unit")
        if self.emitted_by == "flywheel":
            if self.layer not in LAYERS:
                raise CatalogueError(f"metric {self.name}: layer {self.layer!r} not in {LAYERS}")
            full = set(self.detailed_dimensions)
            for rollup in self.rollups:
                if SERVICE not in rollup or not set(rollup) <= full:
                    raise CatalogueError(
                        f"metric {self.name}: roll-up {rollup} must include {SERVICE!r} and be a subset "
                        f"of {self.detailed_dimensions}")

    @property
    def detailed_dimensions(self) -> tuple[str, ...]:
        """The full dimension set of a Flywheel metric: `service` first, then its own keys."""
        if self.emitted_by != "flywheel":
            return self.dimensions
        return (SERVICE, *self.dimensions)

    @property
    def dimension_sets(self) -> tuple[tuple[str, ...], ...]:
        """Every dimension set the metric is published under (detailed first, no duplicates)."""
        sets = [self.detailed_dimensions]
        sets += [r for r in self.rollups if r != self.detailed_dimensions]
        return tuple(sets)


def _m(name: str, unit: str, layer: str, description: str, *dimensions: str,
       rollups: tuple[tuple[str, ...], ...] = ((SERVICE,),), regex: bool = False) -> Metric:
    return Metric(name=name, unit=unit, layer=layer, description=description, dimensions=dimensions,
                  rollups=rollups, sagemaker_regex=f"{name}=([0-9.eE+-]+)" if regex else None)


_V = "ModelVersion"

_FLYWHEEL_METRICS = (
    # API: the Lambdas behind the public REST API.
    _m("Requests", "Count", "api", "requests answered, by route", "Route", _V,
       rollups=((SERVICE,), (SERVICE, "Route"))),
    _m("Latency", "Milliseconds", "api", "end-to-end request latency", "Route", _V,
       rollups=((SERVICE,), (SERVICE, "Route"))),
    _m("TokensIn", "Count", "api", "prompt tokens per chat request", _V),
    _m("TokensOut", "Count", "api", "completion tokens per chat request", _V),
    _m("CacheHits", "Count", "api", "answers served from the response cache", "Route"),
    _m("ModerationFlags", "Count", "api", "moderation flags, by category and direction (input/output)",
       "Direction", "Category", _V, rollups=((SERVICE,), (SERVICE, "Direction"))),
    _m("Refusals", "Count", "api", "requests refused, by safety policy", "Policy", _V),
    # Rating: "up"/"down" for thumbs, "1".."5" for ratings, "none" for the other kinds.
    _m("Feedback", "Count", "api", "feedback received, by kind (thumbs/rating/comparison) and rating",
       "Kind", "Rating", _V, rollups=((SERVICE,), (SERVICE, "Kind"), (SERVICE, "Kind", "Rating"))),
    # ModelVersion: the version whose call failed ("none" where no model was called), so the canary
    # controller can tell a canary's errors from the champion's.
    _m("Errors", "Count", "api", "requests that failed, by error type", "ErrorType", "Route", _V),
    # Serving: the inference server inside the endpoint.
    _m("TimeToFirstToken", "Milliseconds", "serving", "time from request to first generated token", _V),
    _m("TimePerOutputToken", "Milliseconds", "serving", "mean time between generated tokens", _V),
    _m("QueueDepth", "Count", "serving", "requests waiting for a batch slot"),
    _m("BatchSize", "Count", "serving", "sequences in a decoding step"),
    _m("TokensPerSecond", "Count/Second", "serving", "generated tokens per second", _V),
    _m("PrefixCacheHits", "Count", "serving", "prompt tokens reused from the prefix cache", _V),
    _m("ModelLoads", "Count", "serving", "models loaded into the multi-model server", _V),
    _m("ModelEvictions", "Count", "serving", "models unloaded to make room", _V),
    # Training: logged by the training job as `step=<int> train_loss=<f> val_loss=<f> tokens_per_sec=<f>`.
    _m("train_loss", "None", "training", "training cross-entropy (nats per token)", _V, regex=True),
    _m("val_loss", "None", "training", "validation cross-entropy (nats per token)", _V, regex=True),
    _m("tokens_per_sec", "Count/Second", "training", "training throughput across all ranks", _V,
       regex=True),
    # Data: the cleaning job.
    _m("DocumentsIn", "Count", "data", "documents read by the data job"),
    _m("DocumentsKept", "Count", "data", "documents that passed every filter"),
    _m("DocumentsDropped", "Count", "data", "documents dropped, by the filter's reason", "Reason"),
    # The loop: gate, deploy, drift.
    _m("GateMetric", "None", "loop", "a gate metric of a candidate (val_loss, win_rate, ...)",
       "Metric", _V),
    _m("GateVerdict", "None", "loop", "the gate's verdict for a candidate: 1 promoted, 0 rejected", _V),
    _m("CanaryShare", "Percent", "loop", "share of traffic routed to the canary model", _V),
    _m("Rollbacks", "Count", "loop", "deployments rolled back", _V),
    _m("DriftScore", "None", "loop", "distance of live prompts from the training baseline (0 = same)",
       _V),
)

# Metrics AWS publishes itself that the dashboard and alarms read.
SAGEMAKER_ENDPOINT_NAMESPACE = "AWS/SageMaker"
SAGEMAKER_PIPELINE_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
# Where SageMaker publishes what `sagemaker_metric_definitions()` scrapes from a training job's log;
# `Host` is "<training-job-name>/algo-<n>".
SAGEMAKER_TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
_AWS_METRICS = (
    Metric("Invocation5XXErrors", "Count", "serving", "endpoint invocations answered 5xx",
           ("EndpointName", "VariantName"), rollups=(), namespace=SAGEMAKER_ENDPOINT_NAMESPACE,
           emitted_by="aws"),
    Metric("Invocations", "Count", "serving", "endpoint invocations",
           ("EndpointName", "VariantName"), rollups=(), namespace=SAGEMAKER_ENDPOINT_NAMESPACE,
           emitted_by="aws"),
    Metric("ModelLatency", "Microseconds", "serving", "time the container took to answer",
           ("EndpointName", "VariantName"), rollups=(), namespace=SAGEMAKER_ENDPOINT_NAMESPACE,
           emitted_by="aws"),
    *(Metric(m.name, m.unit, "training", f"{m.description}, as SageMaker scrapes it from the job's log",
             ("Host",), rollups=(), namespace=SAGEMAKER_TRAINING_NAMESPACE, emitted_by="aws")
      for m in _FLYWHEEL_METRICS if m.sagemaker_regex),
    Metric("ExecutionFailed", "Count", "training", "continuous-training pipeline executions that failed",
           ("PipelineName",), rollups=(), namespace=SAGEMAKER_PIPELINE_NAMESPACE, emitted_by="aws"),
    Metric("StepFailed", "Count", "training", "pipeline steps that failed (the training step included)",
           ("PipelineName", "StepName"), rollups=(), namespace=SAGEMAKER_PIPELINE_NAMESPACE,
           emitted_by="aws"),
)

# Properties (searchable in Logs Insights, not dimensions) that the saved queries read, and the metrics
# whose lines should carry them.
LOG_PROPERTIES: dict[str, tuple[str, ...]] = {
    "request_id": ("Latency", "Errors", "Feedback", "ModerationFlags"),
    "prompt_tokens": ("Latency",),
    "policy_version": ("Feedback", "Refusals"),
}

CATALOGUE: dict[tuple[str, str], Metric] = {(m.namespace, m.name): m for m in _FLYWHEEL_METRICS + _AWS_METRICS}
METRICS: dict[str, Metric] = {m.name: m for m in _FLYWHEEL_METRICS}


def metric(name: str) -> Metric:
    """The Flywheel metric called `name`; UnknownMetricError if there is none."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetricError(
            f"metric {name!r} is not in the catalogue; known: {', '.join(sorted(METRICS))}") from None


def lookup(namespace: str, name: str) -> Metric:
    """Any catalogued metric, Flywheel's or AWS's, by namespace and name (what infra reads)."""
    try:
        return CATALOGUE[(namespace, name)]
    except KeyError:
        raise UnknownMetricError(f"metric {namespace}/{name} is not in the catalogue") from None


def for_layer(layer: str) -> tuple[Metric, ...]:
    """The Flywheel metrics one layer emits."""
    if layer not in LAYERS:
        raise CatalogueError(f"unknown layer {layer!r}; known: {LAYERS}")
    return tuple(m for m in _FLYWHEEL_METRICS if m.layer == layer)


def sagemaker_metric_definitions() -> list[dict[str, str]]:
    """`MetricDefinitions` for a SageMaker training job: SageMaker scrapes these from the job's log."""
    return [{"Name": m.name, "Regex": m.sagemaker_regex} for m in _FLYWHEEL_METRICS if m.sagemaker_regex]


def _check_dimensions(m: Metric, dimensions: Mapping[str, str]) -> dict[str, str]:
    given = set(dimensions)
    wanted = set(m.dimensions)
    if SERVICE in given:
        raise CatalogueError(f"metric {m.name}: {SERVICE!r} is set from the catalogue ({m.layer!r})")
    if given != wanted:
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        raise CatalogueError(f"metric {m.name}: dimensions must be exactly {sorted(wanted)}"
                             + (f"; missing {missing}" if missing else "")
                             + (f"; unexpected {extra}" if extra else ""))
    clean = {}
    for key in m.dimensions:
        value = dimensions[key]
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"metric {m.name}: dimension {key} must be a non-empty string, got {value!r}")
        if len(value) > _MAX_DIMENSION_VALUE:
            raise CatalogueError(f"metric {m.name}: dimension {key} is longer than {_MAX_DIMENSION_VALUE}")
        clean[key] = value
    return clean


def _check_value(name: str, value: float | Sequence[float]) -> float | list[float]:
    values = list(value) if isinstance(value, Sequence) else [value]
    if not values or len(values) > _MAX_VALUES:
        raise CatalogueError(f"metric {name}: give 1 to {_MAX_VALUES} values, got {len(values)}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise CatalogueError(f"metric {name}: value {v!r} is not a finite number")
    out = [float(v) for v in values]
    return out if isinstance(value, Sequence) else out[0]


def emf_document(name: str, value: float | Sequence[float], dimensions: Mapping[str, str] | None = None,
                 *, properties: Mapping[str, object] | None = None, timestamp_ms: int | None = None,
                 namespace: str = NAMESPACE) -> dict:
    """One EMF document for one catalogue metric (a list of values is published as one batch).

    `properties` are extra searchable fields for Logs Insights (request id, prompt length, ...);
    they may not shadow a dimension or the metric. Raises CatalogueError on anything off-catalogue.
    """
    m = metric(name)
    dims = _check_dimensions(m, dimensions or {})
    val = _check_value(name, value)
    doc: dict = {}
    for key, prop in (properties or {}).items():
        if key in dims or key in (SERVICE, name, "_aws"):
            raise CatalogueError(f"metric {name}: property {key!r} would shadow a dimension or the metric")
        doc[key] = prop
    doc.update({SERVICE: m.layer, **dims, name: val})
    doc["_aws"] = {
        "Timestamp": int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms),
        "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": [list(s) for s in m.dimension_sets],
            "Metrics": [{"Name": name, "Unit": m.unit}],
        }],
    }
    return doc


def emf_line(name: str, value: float | Sequence[float], dimensions: Mapping[str, str] | None = None,
             **kwargs) -> str:
    """`emf_document` as one compact JSON line, ready to print to a log CloudWatch reads."""
    return json.dumps(emf_document(name, value, dimensions, **kwargs), separators=(",", ":"),
                      sort_keys=True, default=str)


def emf_dimension_sets(name: str, dimensions: Mapping[str, str]) -> list[dict[str, str]]:
    """The dimension sets of a metric with their values, for emitters that add them one set at a time
    (Powertools: `add_dimension` for the first, `add_dimensions(**s)` for each roll-up)."""
    m = metric(name)
    values = {SERVICE: m.layer, **_check_dimensions(m, dimensions)}
    return [{key: values[key] for key in s} for s in m.dimension_sets]
