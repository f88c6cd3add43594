"""The model artifact: a directory (and its `model.tar.gz`) that training writes and serving loads.

    config.json        {"format_version", "architecture", "model": GPTConfig, "tokenizer", "version",
                        "data_version", "metrics", "created_at", ...}
    model.safetensors  the weights (tied embeddings stored once, under transformer.wte.weight)
    tokenizer.json     the trained `tokenizers` BPE

`save_artifact` / `load_artifact` are the only readers and writers. Loading rebuilds the model from
`config.json`; artifacts of an older `format_version` pass through `migrate`, one explicit step per
version. `pack` and `unpack` handle `model.tar.gz`; `unpack` refuses archives whose members would land
outside the target folder, links included.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from flywheel.model.config import GPTConfig
from flywheel.model.gpt import GPT
from flywheel.model.tokenizer import ChatTokenizer

FORMAT_VERSION = 1
ARCHITECTURE = "flywheel-gpt"
CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
# lm_head shares wte's storage; safetensors refuses shared tensors, so it is stored once.
TIED_KEYS = {"lm_head.weight": "transformer.wte.weight"}


class ArtifactError(ValueError):
    """An artifact that is missing, malformed, or from an unknown format."""


@dataclass
class Artifact:
    model: GPT
    tokenizer: ChatTokenizer
    meta: dict = field(default_factory=dict)

    @property
    def config(self) -> GPTConfig:
        return self.model.config

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))


# Each migration takes a config.json dict of version N and returns one of version N + 1.
MIGRATIONS: dict[int, callable] = {}


def migrate(meta: dict) -> dict:
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ArtifactError("config.json has no integer format_version")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"artifact format {version} is newer than this code reads ({FORMAT_VERSION})")
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise ArtifactError(f"no migration from artifact format {version}")
        meta = MIGRATIONS[version](meta)
        version = meta["format_version"]
    return meta


def save_artifact(directory: str | Path, model: GPT, tokenizer: ChatTokenizer, *, version: str,
                  data_version: str | None = None, metrics: dict | None = None, **extra) -> Path:
    """Write the artifact directory; files are written to temporaries and renamed, never half-written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ArtifactError(f"tokenizer has {tokenizer.vocab_size} ids but the model only "
                            f"{model.config.vocab_size}")
    meta = {
        "format_version": FORMAT_VERSION,
        "architecture": ARCHITECTURE,
        "model": model.config.to_dict(),
        "tokenizer": {"type": "byte-level-bpe", "file": TOKENIZER_FILE, "vocab_size": tokenizer.vocab_size,
                      "special_tokens": tokenizer.ids, "chat_template": "flywheel-v1"},
        "version": version,
        "data_version": data_version,
        "metrics": metrics or {},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()
             if k not in TIED_KEYS}
    _atomic(directory / WEIGHTS_FILE, lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    _atomic(directory / TOKENIZER_FILE, lambda p: tokenizer.save(p))
    _atomic(directory / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(meta, indent=2, sort_keys=True)))
    return directory


def read_meta(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path} is not a JSON object")
    meta = migrate(meta)
    if meta.get("architecture") != ARCHITECTURE:
        raise ArtifactError(f"architecture {meta.get('architecture')!r} is not {ARCHITECTURE!r}")
    return meta


def load_artifact(directory: str | Path, device: str | torch.device = "cpu") -> Artifact:
    directory = Path(directory)
    meta = read_meta(directory)
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            raise ArtifactError(f"{directory} lacks {name}")
    try:
        config = GPTConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"config.json has a bad model section: {exc}") from None
    try:
        state = load_file(str(directory / WEIGHTS_FILE))
        tokenizer = ChatTokenizer.from_file(directory / TOKENIZER_FILE)
    except Exception as exc:  # noqa: BLE001 - safetensors and tokenizers raise their own types on corrupt files
        raise ArtifactError(f"{directory}: unreadable weights or tokenizer: {exc}") from None
    for key, source in TIED_KEYS.items():
        if source in state:
            state[key] = state[source]
    model = GPT(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"weights do not match config.json: {exc}") from None
    return Artifact(model.to(device).eval(), tokenizer, meta)


def pack(directory: str | Path, archive: str | Path) -> Path:
    """`model.tar.gz` with the artifact's files at the archive root, as SageMaker expects."""
    directory, archive = Path(directory), Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for path in sorted(directory.iterdir()):
                if path.is_file() and path.resolve() != archive.resolve():
                    tar.add(path, arcname=path.name)

    _atomic(archive, write)
    return archive


def unpack(archive: str | Path, directory: str | Path) -> Path:
    """Extract `model.tar.gz` into `directory`, refusing members that would escape it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            # The "data" filter rejects absolute paths, "..", links leaving the folder and devices.
            tar.extractall(directory, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"cannot unpack {archive}: {exc}") from None
    return directory


def _atomic(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
