"""Which models are loaded: load, unload, list, look up, all inside one memory budget.

`load(name, url)` accepts an artifact directory, a folder holding one `model.tar.gz`, or the archive
itself (unpacked with `flywheel.model.artifact.unpack`, which refuses members that escape). Before
loading it estimates what the model will take (weights at its precision plus its KV cache); if that
does not fit, it evicts idle models, least recently used first; if it would not fit even with every
idle model gone, it evicts nothing and raises `InsufficientMemory` (507).

Torch is imported only when a model is loaded, so the HTTP layer above stays torch-free. Knows no HTTP.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.serving.errors import InsufficientMemory, ModelAlreadyLoaded, ModelNotFound, ModelRejected
from flywheel.serving.metrics import ServingMetrics
from flywheel.serving.settings import ServerSettings

MAX_NAME = 256


@dataclass
class LoadedModel:
    name: str
    url: str
    engine: object  # flywheel.serving.engine.Engine (imported lazily: torch)
    version: str
    precision: str
    bytes: int
    unpacked: Path | None = None  # a folder we made by unpacking, removed on unload
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    inflight: int = 0

    @property
    def idle(self) -> bool:
        return self.inflight == 0 and not self.engine.busy

    def describe(self) -> dict:
        return {"modelName": self.name, "modelUrl": self.url, "modelVersion": self.version,
                "precision": self.precision, "memoryBytes": self.bytes,
                "loadedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at))}


class ModelRegistry:
    def __init__(self, settings: ServerSettings, metrics: ServingMetrics | None = None):
        self.settings = settings
        self.metrics = metrics or ServingMetrics(emf=settings.emf)
        self.budget = settings.memory_budget_bytes
        self._lock = threading.Lock()
        self._models: dict[str, LoadedModel] = {}
        self._reserved: dict[str, int] = {}  # loads in progress and the bytes they will take

    # --- load / unload ---------------------------------------------------------------------------
    def load(self, name: str, url: str) -> dict:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or "/" in name:
            raise ModelRejected(f"model_name must be 1..{MAX_NAME} characters without '/'")
        if not isinstance(url, str) or not url:
            raise ModelRejected("url must be a non-empty string")
        with self._lock:
            if name in self._models or name in self._reserved:
                raise ModelAlreadyLoaded(f"model {name} is already loaded")
            self._reserved[name] = 0
        unpacked = None
        try:
            directory, unpacked = self._resolve(name, url)
            estimate, precision = self._estimate(directory)
            evicted = self._make_room(name, estimate)
            for model in evicted:
                self._close(model, evicted=True)
            loaded = self._build(name, url, directory, precision, estimate, unpacked)
        except BaseException:
            with self._lock:
                self._reserved.pop(name, None)
            if unpacked is not None:
                shutil.rmtree(unpacked, ignore_errors=True)
            raise
        with self._lock:
            self._reserved.pop(name, None)
            self._models[name] = loaded
        self.metrics.model_loaded(name, loaded.version)
        return loaded.describe()

    def unload(self, name: str) -> None:
        with self._lock:
            model = self._models.pop(name, None)
        if model is None:
            raise ModelNotFound(f"model {name} is not loaded")
        self._close(model, evicted=False)

    def close(self) -> None:
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            self._close(model, evicted=False)

    # --- read ------------------------------------------------------------------------------------
    def describe(self, name: str) -> dict:
        with self._lock:
            if name not in self._models:
                raise ModelNotFound(f"model {name} is not loaded")
            return self._models[name].describe()

    def page(self, max_results: int | None, next_page_token: str | None) -> tuple[list[dict], str | None]:
        """Models in name order, `max_results` at a time; the token is the last name handed out."""
        with self._lock:
            models = sorted(self._models.values(), key=lambda m: m.name)
        if next_page_token:
            models = [m for m in models if m.name > next_page_token]
        limit = max_results or len(models) or 1
        page = models[:limit]
        token = page[-1].name if len(models) > limit else None
        return [m.describe() for m in page], token

    @property
    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    @contextmanager
    def use(self, name: str):
        """The model's engine, counted as in use (not evictable) while the block runs."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise ModelNotFound(f"model {name} is not loaded")
            model.inflight += 1
            model.last_used = time.monotonic()
        try:
            yield model.engine
        finally:
            with self._lock:
                model.inflight -= 1
                model.last_used = time.monotonic()

    # --- internals -------------------------------------------------------------------------------
    def _resolve(self, name: str, url: str) -> tuple[Path, Path | None]:
        from flywheel.model.artifact import CONFIG_FILE, unpack

        path = Path(url.removeprefix("file://"))
        archive = None
        if path.is_dir():
            if (path / CONFIG_FILE).is_file():
                return path, None
            archives = sorted(path.glob("*.tar.gz"))
            if len(archives) != 1:
                raise ModelRejected(f"{url} holds neither {CONFIG_FILE} nor exactly one .tar.gz archive")
            archive = archives[0]
        elif path.is_file():
            archive = path
        else:
            raise ModelRejected(f"no model at {url}")
        target = Path(self.settings.work_dir) / f"{name}-{uuid.uuid4().hex[:8]}"
        try:
            unpack(archive, target)
        except ValueError as exc:  # ArtifactError: a broken archive or one whose paths escape
            shutil.rmtree(target, ignore_errors=True)
            raise ModelRejected(str(exc)) from None
        return target, target

    def _estimate(self, directory: Path) -> tuple[int, str]:
        import torch

        from flywheel.model.artifact import read_meta
        from flywheel.model.config import GPTConfig
        from flywheel.serving.runner import cache_bytes, param_bytes, resolve_precision

        try:
            meta = read_meta(directory)
            config = GPTConfig.from_dict(meta["model"])
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            precision = resolve_precision(self.settings.engine.precision, meta, device, config)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelRejected(f"not a usable artifact: {exc}") from None
        e = self.settings.engine
        slots = e.max_batch + (e.prefix_slots if e.prefix_caching else 0)
        return param_bytes(config, precision) + cache_bytes(config, slots, precision), precision

    def _make_room(self, name: str, need: int) -> list[LoadedModel]:
        with self._lock:
            used = sum(m.bytes for m in self._models.values()) + sum(self._reserved.values())
            idle = sorted((m for m in self._models.values() if m.idle), key=lambda m: m.last_used)
            if need > self.budget - used + sum(m.bytes for m in idle):
                raise InsufficientMemory(
                    f"model {name} needs {need / 2**20:.1f} MiB; the budget is {self.budget / 2**20:.1f} MiB "
                    f"with {used / 2**20:.1f} MiB in use and {sum(m.bytes for m in idle) / 2**20:.1f} MiB "
                    "evictable")
            evicted = []
            while need > self.budget - used:
                victim = idle.pop(0)
                del self._models[victim.name]
                used -= victim.bytes
                evicted.append(victim)
            self._reserved[name] = need
            return evicted

    def _build(self, name, url, directory, precision, estimate, unpacked) -> LoadedModel:
        from flywheel.model.artifact import load_artifact
        from flywheel.serving.engine import Engine
        from flywheel.serving.runner import ModelRunner, on_passing_thread

        e = self.settings.engine

        def prepare():
            artifact = load_artifact(directory)
            return artifact, ModelRunner(artifact, e.max_batch + (e.prefix_slots if e.prefix_caching else 0),
                                         precision)

        try:
            # Torch work off this thread (maybe the server's main one, which lives on): see on_passing_thread.
            artifact, runner = on_passing_thread(prepare)
        except ValueError as exc:
            raise ModelRejected(f"cannot load {url}: {exc}") from None
        metrics = self.metrics.for_model(name, artifact.version)
        engine = Engine(runner, artifact.tokenizer, e, metrics, name=name, version=artifact.version)
        return LoadedModel(name, url, engine, artifact.version, runner.precision, estimate, unpacked)

    def _close(self, model: LoadedModel, evicted: bool) -> None:
        model.engine.close()
        self.metrics.model_unloaded(model.name, model.version, evicted)
        if model.unpacked is not None:
            shutil.rmtree(model.unpacked, ignore_errors=True)
