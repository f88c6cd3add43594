"""A small linear classifier over word and character n-grams, scored in pure Python at run time.

One logistic regression per label (the thirteen moderation categories plus `attack`), on hashed
features of the normalised text: word unigrams and bigrams of crude stems. Weights come from `train_classifier.py` (offline, numpy) and are shipped as
`data/classifier.json`; only non-zero weights are stored, as {feature_hash: [label, weight, ...]}.
If the file is missing the classifier abstains (every probability 0) and the rules decide alone.

    predict("how do i make a bomb")      # {"illicit/violent": 0.93, "attack": 0.02, ...}

The probabilities are rescaled so that 0.5 is the operating point chosen by cross-validation
(`threshold` in the JSON, e.g. a raw probability of 0.75), which keeps the classifier a high-precision
backstop for what the rules miss rather than a second source of over-refusal.

It knows nothing of thresholds or of how its probabilities are combined with the rules.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import zlib
from pathlib import Path

WEIGHTS_PATH = Path(__file__).with_name("data") / "classifier.json"
N_BUCKETS = 1 << 18
# Short texts have few features, so one feature would carry a whole score: the normalisation never
# divides by fewer than this many ("Describe lists." scored as sexual on the word "describe" alone).
MIN_FEATURES = 4
CHAR_GRAMS = False  # character 4-grams: 10x the weights for no gain in cross-validation here
_TOKEN = re.compile(r"[a-z0-9']+")
_SUFFIXES = ("ing", "ed", "es", "s", "ly", "er", "ers", "ation", "ment")


def stem(word: str) -> str:
    """A crude suffix stripper: enough to let 'killing', 'kills' and 'killed' share a feature."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def features(text: str) -> list[int]:
    """Hashed feature ids of a normalised text (with repeats removed)."""
    words = [stem(w) for w in _TOKEN.findall(text)]
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a}_{b}" for a, b in itertools.pairwise(words)]
    if CHAR_GRAMS:
        for w in words:
            padded = f"<{w}>"
            grams += [f"c:{padded[i:i + 4]}" for i in range(max(1, len(padded) - 3))]
    return sorted({zlib.crc32(g.encode()) % N_BUCKETS for g in grams})


@functools.lru_cache(maxsize=1)
def _model() -> tuple[tuple[str, ...], list[float], dict[int, list]] | None:
    if not WEIGHTS_PATH.exists():
        return None
    raw = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    weights = {int(k): v for k, v in raw["weights"].items()}
    # Shift the biases so that the trained operating point (a probability chosen by cross-validation
    # for few false positives) reads as 0.5, the scale the rules and thresholds use.
    t = float(raw.get("threshold", 0.5))
    shift = math.log(t / (1.0 - t))
    return tuple(raw["labels"]), [b - shift for b in raw["bias"]], weights


def labels() -> tuple[str, ...]:
    model = _model()
    return model[0] if model else ()


def predict(text: str) -> dict[str, float]:
    """Probability per label for one normalised text ({} when no weights are shipped)."""
    model = _model()
    if model is None:
        return {}
    names, bias, weights = model
    logits = list(bias)
    feats = features(text)
    # Features are binary and the score is averaged over sqrt(n) so long texts don't saturate.
    scale = 1.0 / math.sqrt(max(MIN_FEATURES, len(feats)))
    for f in feats:
        row = weights.get(f)
        if row is not None:
            # row = [label index, weight, label index, weight, ...] (non-zero weights only)
            for j in range(0, len(row), 2):
                logits[row[j]] += row[j + 1] * scale
    return {name: 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) for name, z in zip(names, logits)}
