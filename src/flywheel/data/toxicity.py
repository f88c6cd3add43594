"""The cleaner's view of moderation: `moderate(text) -> ModerationResult`, whichever scorer is installed.

The data job drops what the API would refuse, so it calls the very scoring the API calls:
`flywheel.safety.moderation.moderate` (fields `flagged`, `categories`, `category_scores`). When that
module cannot be imported (a trimmed install, or the safety layer mid-change) a small lexicon stands
in behind the same interface, and `backend()` says which one ran so the manifest records it.

The lexicon knows a handful of abusive and threatening phrases; it is a floor, not a classifier.

    from flywheel.data.toxicity import moderate, backend
    moderate("you worthless idiot").flagged      # True
    backend()                                    # "flywheel.safety.moderation" or "lexicon"
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LexiconResult:
    """Same fields as flywheel.safety.moderation.ModerationResult."""

    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)


# category -> phrases (whole words, case-insensitive). Kept short on purpose: see the module docstring.
_LEXICON = {
    "harassment": ("worthless idiot", "stupid moron", "pathetic loser", "piece of garbage", "shut up idiot"),
    "harassment/threatening": ("i will kill you", "i'm going to kill you", "you will regret this",
                               "i will hurt you", "watch your back"),
    "hate": ("subhuman", "vermin people", "those animals should"),
    "violence": ("beat you to death", "burn your house"),
}
_PATTERNS = {c: re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
             for c, words in _LEXICON.items()}


def lexicon_moderate(text: str) -> LexiconResult:
    hits = {c: bool(p.search(text)) for c, p in _PATTERNS.items()}
    return LexiconResult(flagged=any(hits.values()), categories=hits,
                         category_scores={c: float(v) for c, v in hits.items()})


@functools.cache
def _scorer():
    try:
        from flywheel.safety.moderation import moderate as safety_moderate
    except ImportError:
        return "lexicon", lexicon_moderate
    return "flywheel.safety.moderation", safety_moderate


def backend() -> str:
    return _scorer()[0]


def moderate(text: str):
    """The moderation verdict for `text` (flagged, categories, category_scores)."""
    return _scorer()[1](text)
