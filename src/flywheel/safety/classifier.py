"""A small linear classifier over word and character n-grams, scored in pure Python at run time.

One logistic regression per label (the thirteen moderation categories plus `attack`), on hashed
features of the normalised text: word unigrams and bigrams of crude stems, and character n-grams
inside each word (`<kil`, `kill`, `ill>`: they survive typos, slang endings and split words that
a whole-word feature misses). Weights come from `train_classifier.py` (offline, scikit-learn) and
are written to `data/classifier.json` (built by `make install`, not committed); only non-zero
weights are stored, as {feature_hash: [label, weight, ...]}. The JSON records which n-grams it was
trained on (`features`), so `predict` always extracts the same ones. If the file is missing the classifier
abstains (every probability 0) and the rules decide alone.

    predict("how do i make a bomb")      # {"illicit/violent": 0.93, "attack": 0.02, ...}

The rules' scores are inputs too (stacking): `predict(text, rules)` takes the highest rule score per
label over the text's views (`rule_features`) and adds their learned weights (`rule_weights` in the
JSON, one row per rule label), so a rule that over-fires on phrasings its author did not foresee
is weighed against the words around it instead of deciding alone. A JSON without rule weights
ignores them (`stacked()` says which kind is shipped).

The probabilities are rescaled so that 0.5 is the operating point chosen at training time
(`threshold` in the JSON, see `train_classifier`), so that one threshold in config.json means the
same for the rules and the classifier. Text in another language than English (`foreign`) has its
own operating point (`foreign_threshold`): the model has seen far less of every other language and
its probabilities there sit lower; cross-validation holds each group, English and foreign, to the
same share of its own benign rows blocked.

Words (`words`) are runs of letters of any script: a Latin letter loses its accent, and Chinese and
Japanese, written without spaces, count each pair of adjacent characters as a word.

It knows nothing of thresholds.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import operator
import re
import unicodedata
import zlib
from pathlib import Path
from typing import NamedTuple

from flywheel.safety.normalize import english_ratio

WEIGHTS_PATH = Path(__file__).with_name("data") / "classifier.json"
N_BUCKETS = 1 << 18
# Short texts have few features, so one feature would carry a whole score: the normalisation never
# divides by fewer than this many ("Describe lists." scored as sexual on the word "describe" alone).
MIN_FEATURES = 4
# Character n-gram lengths inside a word (lo, hi), or None for words only. The shipped JSON says
# which it was trained with; this default is what `train_classifier` uses.
CHAR_GRAMS: tuple[int, int] | None = (3, 5)
_TOKEN = re.compile(r"[a-z0-9']+")  # an ASCII text's words
# Any text's words: letters and digits of every script (`[^\W_]`), the apostrophe, and the combining
# marks that Python's `\w` leaves out but words need (Latin, Cyrillic, Hebrew and Arabic diacritics; the
# vowel signs of the Indic scripts, Thai, and kana's voicing marks), so "बनाऊं" stays one word.
_WORD_CHARS = ("[^\\W_]|['\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
               "\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff\u0e00-\u0e7f\u1ab0-\u1aff\u3099\u309a]")
_ANY_TOKEN = re.compile(f"(?:{_WORD_CHARS})+")
# Chinese and Japanese write no spaces: a run of their characters is split into overlapping pairs.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Latin letters lose their accents (phones often type without them): "fabricação" -> "fabricacao".
_UNACCENT = {c: base for c in range(0xC0, 0x250)
             if (base := "".join(ch for ch in unicodedata.normalize("NFKD", chr(c)) if ch.isascii())) and base != chr(c)}
_SUFFIXES = ("ing", "ed", "es", "s", "ly", "er", "ers", "ation", "ment")


@functools.lru_cache(maxsize=1 << 16)  # every bigram of every text stems its words again
def stem(word: str) -> str:
    """A crude suffix stripper: enough to let 'killing', 'kills' and 'killed' share a feature."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _word_ids(word: str, char_grams: tuple[int, int] | None) -> tuple[int, ...]:
    """Hashed ids of one word's unigram (stemmed) and its distinct character n-grams."""
    grams = {f"w:{stem(word)}"}
    if char_grams:
        lo, hi = char_grams
        padded = f"<{word}>"
        for n in range(lo, hi + 1):
            grams.update(padded[i:i + n] for i in range(max(1, len(padded) - n + 1)))
    return tuple(zlib.crc32(g.encode()) % N_BUCKETS for g in grams)


def _bigram_ids(words: list[str]) -> list[int]:
    stems = [stem(w) for w in words]
    return list(dict.fromkeys(zlib.crc32(f"b:{a}_{b}".encode()) % N_BUCKETS for a, b in itertools.pairwise(stems)))


def words(text: str) -> list[str]:
    """The words of a normalised (lower-case) text, in order: for an ASCII text its runs of a-z, 0-9
    and the apostrophe; in any other, words of every script, Latin letters without their accents,
    and each run of Chinese or Japanese characters as its overlapping pairs ("制造炸弹" -> "制造",
    "造炸", "炸弹")."""
    if text.isascii():
        return _TOKEN.findall(text)
    out: list[str] = []
    for token in _ANY_TOKEN.findall(text.translate(_UNACCENT)):
        if not _CJK.search(token):
            out.append(token)
            continue
        start = 0
        for run in _CJK.finditer(token):
            if run.start() > start:
                out.append(token[start:run.start()])
            chars = run.group()
            out.extend(chars[i:i + 2] for i in range(max(1, len(chars) - 1)))
            start = run.end()
        if start < len(token):
            out.append(token[start:])
    return out


def foreign(text: str, n_words: int | None = None) -> bool:
    """Whether a normalised text reads as another language than English: over a fifth of its letters
    outside ASCII, or at least four words of which under a tenth are among the most frequent English
    words (`normalize.english_ratio`). Over the training rows: 87.5% of the rows written in other
    languages, 1.1% of the English ones (encoded blobs, code, lists of names)."""
    if not text.isascii():
        letters = [c for c in text if c.isalpha()]
        if letters and sum(not c.isascii() for c in letters) > 0.2 * len(letters):
            return True
    return (len(words(text)) if n_words is None else n_words) >= 4 and english_ratio(text) < 0.1


def features(text: str, char_grams: tuple[int, int] | None = CHAR_GRAMS) -> list[int]:
    """Hashed feature ids of a normalised text: each distinct word's ids, then each distinct bigram's.

    An id shared by two words (`kill` and `killer` share `<ki`) appears twice and counts twice: a
    text's score is then a sum of per-word scores, which `predict` caches word by word.
    """
    raw = words(text)
    ids: list[int] = []
    for w in dict.fromkeys(raw):
        ids.extend(_word_ids(w, char_grams))
    return ids + _bigram_ids(raw)


class _Model(NamedTuple):
    labels: tuple[str, ...]
    bias: list[float]
    weights: dict[int, tuple[tuple[int, float], ...]]
    char_grams: tuple[int, int] | None
    # word -> (its summed weight per label, its number of ids): most words of a text were seen in
    # earlier texts, and summing their n-grams' weights is most of the cost of a prediction.
    word_cache: dict[str, tuple[tuple[float, ...], int]]
    # rule label -> its weight per output label (empty: not a stacked model)
    rule_weights: dict[str, tuple[float, ...]]
    # added to every logit of a `foreign` text: its operating point's offset from the English one
    foreign_shift: float


WORD_CACHE_MAX = 1 << 16


BUILD_COMMAND = "python -m flywheel.safety.train_classifier --build"  # what `make install` runs


def require_weights() -> Path:
    """The weights file, or FileNotFoundError saying how to build it (for whatever ships it)."""
    if not WEIGHTS_PATH.exists():
        raise FileNotFoundError(f"{WEIGHTS_PATH} is missing: it is built, not committed; run `make install` "
                                f"or `{BUILD_COMMAND}`")
    return WEIGHTS_PATH


@functools.lru_cache(maxsize=1)
def _model() -> _Model | None:
    if not WEIGHTS_PATH.exists():
        logging.getLogger(__name__).warning("no %s: the classifier abstains and the rules decide alone "
                                            "(build it with `%s`)", WEIGHTS_PATH.name, BUILD_COMMAND)
        return None
    raw = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    # Each row as ((label index, weight), ...) pairs: unpacking a tuple is the cheapest inner loop.
    weights = {int(k): tuple(zip(v[::2], v[1::2])) for k, v in raw["weights"].items()}
    # Shift the biases so that the trained operating point (a probability chosen by cross-validation
    # for few false positives) reads as 0.5, the scale the rules and thresholds use.
    t = float(raw.get("threshold", 0.5))
    shift = math.log(t / (1.0 - t))
    t_foreign = float(raw.get("foreign_threshold", t))
    char = raw.get("features", {}).get("char_grams")
    rule_weights = {label: tuple(row) for label, row in zip(raw.get("rule_features", ()), raw.get("rule_weights", ()))}
    return _Model(tuple(raw["labels"]), [b - shift for b in raw["bias"]], weights,
                  tuple(char) if char else None, {}, rule_weights, shift - math.log(t_foreign / (1.0 - t_foreign)))


def _add_row(sums: list[float], row) -> None:
    for j, w in row:  # non-zero weights only
        sums[j] += w


def labels() -> tuple[str, ...]:
    model = _model()
    return model.labels if model else ()


def stacked() -> bool:
    """Whether the shipped model takes the rules' scores as inputs (and so decides with them)."""
    model = _model()
    return bool(model and model.rule_weights)


def rule_features(rule_scores) -> dict[str, float]:
    """The model's rule inputs from per-view rule scores: the highest score per category over the
    views, and under `attack` the highest score of any attack kind (`attack:<kind>` rules)."""
    out: dict[str, float] = {}
    for scores in rule_scores:
        for label, score in scores.items():
            key = "attack" if label.startswith("attack:") else label
            if score > out.get(key, 0.0):
                out[key] = score
    return out


def predict(text: str, rules: dict[str, float] | None = None) -> dict[str, float]:
    """Probability per label for one normalised text ({} when no weights are shipped).

    `rules` (from `rule_features`) are added through the rule weights of a stacked model.
    """
    model = _model()
    if model is None:
        return {}
    n_labels = len(model.labels)
    weights, cache = model.weights, model.word_cache
    raw = words(text)
    sums = [0.0] * n_labels
    n = 0
    for word in dict.fromkeys(raw):
        hit = cache.get(word)
        if hit is None:
            ids = _word_ids(word, model.char_grams)
            vec = [0.0] * n_labels
            for f in ids:
                row = weights.get(f)
                if row is not None:
                    _add_row(vec, row)
            hit = (tuple(vec), len(ids))
            if len(cache) < WORD_CACHE_MAX:
                cache[word] = hit
        sums = list(map(operator.add, sums, hit[0]))
        n += hit[1]
    bigrams = _bigram_ids(raw)
    n += len(bigrams)
    for f in bigrams:
        row = weights.get(f)
        if row is not None:
            _add_row(sums, row)
    # The score is averaged over sqrt(n) features so long texts don't saturate.
    scale = 1.0 / math.sqrt(max(MIN_FEATURES, n))
    offset = model.foreign_shift if model.foreign_shift and foreign(text, len(raw)) else 0.0
    logits = [b + offset + s * scale for b, s in zip(model.bias, sums)]
    if rules and model.rule_weights:  # rule inputs are not length-scaled: a rule hit is one fact
        for label, score in rules.items():
            row = model.rule_weights.get(label)
            if row is not None and score:
                logits = [z + score * w for z, w in zip(logits, row)]
    return {name: 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) for name, z in zip(model.labels, logits)}
