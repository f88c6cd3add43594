"""The inference server's settings, read once from the environment (SageMaker's variables and ours).

    SAGEMAKER_BIND_TO_PORT      port to listen on (8080; 0 picks a free one and prints it)
    SAGEMAKER_MULTI_MODEL       "true" serves the multi-model contract, else one model
    FLYWHEEL_MODEL_DIR          the single model's folder (/opt/ml/model)
    FLYWHEEL_BIND_HOST          address to bind (0.0.0.0; tests use 127.0.0.1)
    FLYWHEEL_MEMORY_BUDGET_MB   memory the loaded models may take (default: half the machine's RAM)
    FLYWHEEL_MAX_BATCH          sequences decoded together per model (32)
    FLYWHEEL_MAX_QUEUE          requests waiting per model before 429 (64)
    FLYWHEEL_REQUEST_TIMEOUT_S  default per-request timeout (60)
    FLYWHEEL_PRECISION          auto | fp32 | fp16 | int8 | bf16 (auto: bf16 on CUDA; on CPU fp32 below
                                2M Linear parameters, then int8 where the compiled int8 Linear is
                                built (x86-64), else fp16 weights below 20M and int8 from there;
                                unless the artifact's config.json says `"serving": {"precision": ...}`;
                                see runner.resolve_precision)
    FLYWHEEL_WORK_DIR           where model archives are unpacked (a temporary folder)
    FLYWHEEL_TORCH_THREADS      intra-op threads for torch (torch's default)
    FLYWHEEL_EMF                "false" turns off CloudWatch EMF log lines on stdout

Knows no torch and no HTTP; a bad value is a clear error at start-up.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

PRECISIONS = ("auto", "fp32", "fp16", "int8", "bf16")


def _total_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


@dataclass(frozen=True)
class EngineSettings:
    """What each model's engine is built with."""

    max_batch: int = 32
    max_queue: int = 64
    request_timeout_s: float = 60.0
    precision: str = "auto"
    prefix_caching: bool = True
    prefix_slots: int = 4  # distinct shared prefixes kept cached per model
    max_n: int = 8  # most choices one request may ask for

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_queue < 0 or self.request_timeout_s <= 0:
            raise ValueError(f"engine settings out of range: {self}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {PRECISIONS}")
        if self.max_n < 1:
            raise ValueError(f"max_n must be at least 1, got {self.max_n}")
        # n choices run side by side, so a batch bounds them.
        object.__setattr__(self, "max_n", min(self.max_n, self.max_batch))


@dataclass(frozen=True)
class ServerSettings:
    port: int = 8080
    host: str = "0.0.0.0"
    multi_model: bool = False
    model_dir: str = "/opt/ml/model"
    memory_budget_bytes: int = 0
    work_dir: str = ""
    torch_threads: int | None = None
    emf: bool = True
    engine: EngineSettings = EngineSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env

        def number(name: str, default, kind=int):
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None

        budget_mb = number("FLYWHEEL_MEMORY_BUDGET_MB", None, float)
        budget = int(budget_mb * (1 << 20)) if budget_mb is not None else _total_memory_bytes() // 2
        return cls(
            port=number("SAGEMAKER_BIND_TO_PORT", 8080),
            host=env.get("FLYWHEEL_BIND_HOST", "0.0.0.0"),
            multi_model=env.get("SAGEMAKER_MULTI_MODEL", "false").strip().lower() == "true",
            model_dir=env.get("FLYWHEEL_MODEL_DIR", "/opt/ml/model"),
            memory_budget_bytes=budget,
            work_dir=env.get("FLYWHEEL_WORK_DIR") or tempfile.mkdtemp(prefix="flywheel-models-"),
            torch_threads=number("FLYWHEEL_TORCH_THREADS", None),
            emf=env.get("FLYWHEEL_EMF", "true").strip().lower() != "false",
            engine=EngineSettings(
                max_batch=number("FLYWHEEL_MAX_BATCH", 32),
                max_queue=number("FLYWHEEL_MAX_QUEUE", 64),
                request_timeout_s=number("FLYWHEEL_REQUEST_TIMEOUT_S", 60.0, float),
                precision=env.get("FLYWHEEL_PRECISION", "auto"),
            ),
        )
