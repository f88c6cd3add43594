"""The model layer: the GPT, its tokenizer and chat template, the artifact format and its HF export.

`gpt.py` and `config.py` are pure single-device PyTorch; `artifact.py` and `export.py` do the I/O;
`decode.py` is the serving engine's step, `quant.py` its CPU precisions, and `kernels.py` builds its
compiled CPU attention (`csrc/`).
Names are resolved on first use, so `flywheel.model.tokenizer` and `flywheel.model.config` import
without torch (the data job and the Lambda functions need only those).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GPTConfig": "flywheel.model.config", "PRESETS": "flywheel.model.config", "preset": "flywheel.model.config",
    "GPT": "flywheel.model.gpt", "IGNORE_INDEX": "flywheel.model.gpt", "KVCache": "flywheel.model.gpt",
}

__all__ = ["GPT", "IGNORE_INDEX", "PRESETS", "GPTConfig", "KVCache", "preset"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'flywheel.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
