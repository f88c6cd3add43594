"""The model layer: the GPT, its tokenizer and chat template, the artifact format and its HF export.

`gpt.py` and `config.py` are pure single-device PyTorch; `artifact.py` and `export.py` do the I/O.
"""

from flywheel.model.config import PRESETS, GPTConfig, preset
from flywheel.model.gpt import GPT, IGNORE_INDEX, KVCache

__all__ = ["GPT", "GPTConfig", "IGNORE_INDEX", "KVCache", "PRESETS", "preset"]
