"""The stack configuration, read once into frozen dataclasses with a default for every key.

A fresh stack needs only `aws:region`. Everything else is one structured key per layer, in camelCase:

    pulumi config set aws:region eu-west-1
    pulumi config set --path 'flywheel:training.instanceType' ml.g5.12xlarge
    pulumi config set --path 'flywheel:serving.deployEndpoint' true
    pulumi config set --path 'flywheel:observability.alarmEmail' me@example.com

Values set with `--path` arrive as strings; they are converted to the field's type here, and an unknown
key or a bad value is a clear error naming it. Components never read configuration: `__main__.py` hands
them these values.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field

from flywheel.names import StackNames


@dataclass(frozen=True)
class LakeConfig:
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket (dev stacks)
    noncurrent_expiration_days: int = 30
    raw_transition_days: int = 90  # raw text moves to infrequent access after this many days
    checkpoint_expiration_days: int = 14  # spot checkpoints are only needed while a job runs
    capture_expiration_days: int = 90
    # Every log group of the stack (FSBP CloudWatch.16 asks for at least a year).
    log_retention_days: int = 365


@dataclass(frozen=True)
class NetworkConfig:
    enabled: bool = False
    cidr: str = "10.42.0.0/16"
    az_count: int = 2


@dataclass(frozen=True)
class TrainingConfig:
    instance_type: str = "ml.g5.2xlarge"
    instance_count: int = 1
    processing_instance_type: str = "ml.m5.xlarge"
    prepare_instance_count: int = 1  # cleaning-job instances; above 1 they meet on an S3 work dir
    use_spot: bool = True
    max_runtime_s: int = 24 * 3600
    max_wait_s: int = 36 * 3600
    preset: str = "small"
    max_steps: int = 2000
    schedule: str = "rate(7 days)"
    feedback_trigger: int = 250  # feedback events within an hour that start a training run
    image_tag: str = "v1"


@dataclass(frozen=True)
class ServingConfig:
    # The endpoint needs the inference image in ECR: deploy the rest first, push, then set this to true.
    deploy_endpoint: bool = False
    # Bring-your-own-container multi-model endpoints run on CPU instances only (NOTES.md).
    instance_type: str = "ml.c5.xlarge"
    instance_count: int = 1
    max_instance_count: int = 4
    invocations_per_instance: int = 100  # target-tracking set point, per instance per minute
    canary_percent: int = 10
    canary_wait_s: int = 600
    # The routing canary's controller Lambda (flywheel.feedback.gate.CanaryConfig): how often it runs, how
    # long a canary bakes before promotion, and the rates that roll it back (each once it has evidence).
    canary_schedule: str = "rate(5 minutes)"
    canary_bake_s: int = 3600
    canary_min_requests: int = 50
    canary_max_error_rate: float = 0.02
    canary_min_feedback: int = 20
    canary_max_thumbs_down_rate: float = 0.4
    capture_percent: int = 100
    # Set to e.g. ml.g5.xlarge to also host the champion on a GPU single-model endpoint.
    gpu_instance_type: str = ""
    gpu_model_key: str = "models/champion/model.tar.gz"
    image_tag: str = "v1"


@dataclass(frozen=True)
class ApiConfig:
    stage: str = "prod"
    throttle_rate: float = 50.0  # steady requests per second across the stage
    throttle_burst: int = 100
    quota_per_day: int = 100_000
    log_retention_days: int = 365
    memory_mb: int = 512
    timeout_s: int = 60
    runtime: str = "python3.12"
    # AWS's public Powertools for AWS Lambda (Python) v3 layer; bump to the latest listed in its docs.
    powertools_layer_version: int = 18
    chat_concurrency: int = 50
    moderation_concurrency: int = 20
    feedback_concurrency: int = 20
    models_concurrency: int = 5


@dataclass(frozen=True)
class ObservabilityConfig:
    alarm_email: str = ""
    period_s: int = 300
    latency_p99_ms: float = 15_000.0
    error_rate: float = 0.05  # errors per request
    endpoint_5xx: float = 5.0  # per period
    anomaly_band: float = 3.0  # standard deviations for the "jump" alarms
    drift_threshold: float = 0.25


@dataclass(frozen=True)
class StackConfig:
    names: StackNames
    region: str
    lake: LakeConfig = field(default_factory=LakeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)


SECTIONS = {"lake": LakeConfig, "network": NetworkConfig, "training": TrainingConfig,
            "serving": ServingConfig, "api": ApiConfig, "observability": ObservabilityConfig}


class ConfigError(ValueError):
    """A configuration key that does not exist or a value of the wrong type."""


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _coerce(section: str, key: str, kind: type, value):
    where = f"flywheel:{section}.{key}"
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    try:
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a {kind.__name__}, got {value!r}") from None
    return str(value)


def section_from(section: str, raw: dict | None):
    """One section's dataclass from its raw dict (camelCase keys); defaults fill what is missing."""
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    by_key = {_camel(f.name): f.name for f in dataclasses.fields(cls)}
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"flywheel:{section} must be an object of settings, got {raw!r}")
    unknown = sorted(set(raw) - set(by_key))
    if unknown:
        raise ConfigError(f"unknown key(s) flywheel:{section}.{', '.join(unknown)}; known: {sorted(by_key)}")
    return cls(**{by_key[k]: _coerce(section, k, hints[by_key[k]], v) for k, v in raw.items()})


_STACK_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def load() -> StackConfig:
    """Read the current stack's configuration (call once, from `__main__.py`)."""
    import pulumi

    region = pulumi.Config("aws").require("region")
    cfg = pulumi.Config("flywheel")
    stack, project = pulumi.get_stack(), pulumi.get_project()
    if not _STACK_SAFE.match(stack):
        raise ConfigError(f"stack name {stack!r}: use letters, digits, '-', '_' or '.'")
    sections = {name: section_from(name, cfg.get_object(name)) for name in SECTIONS}
    return StackConfig(names=StackNames(project=project, stack=stack), region=region, **sections)
