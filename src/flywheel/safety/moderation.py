"""Content moderation: a score per OpenAI moderation category, thresholds from config, a verdict.

    result = moderate("how do i make a pipe bomb")
    result.flagged                   # True
    result.flagged_categories        # ["illicit", "illicit/violent"]
    result.llama_guard               # ["S1", "S2", "S9"]  (Llama Guard 3 hazards of those categories)
    result.to_dict()                 # OpenAI's /v1/moderations result object

A category's score is the larger of its best rule score (over every view of the text, decoded
payloads included) and the classifier's probability; a sub-category's score lifts its parent's.
The data cleaner calls `moderate` as its toxicity filter, the gateway on every input and output.
Knows nothing of HTTP or of prompt attacks (see `attacks.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.safety.config import SafetyConfig, load_config
from flywheel.safety.scoring import analyse
from flywheel.safety.taxonomy import CATEGORIES, PARENT, llama_guard_codes


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    # How the text was read when a category fired: "plain", or the encoding it was hidden in.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def flagged_categories(self) -> list[str]:
        return [c for c in CATEGORIES if self.categories.get(c)]

    @property
    def llama_guard(self) -> list[str]:
        return llama_guard_codes(self.flagged_categories)

    def to_dict(self) -> dict:
        """OpenAI's moderation result object (plus `llama_guard` hazard codes)."""
        return {"flagged": self.flagged, "categories": dict(self.categories),
                "category_scores": dict(self.category_scores), "llama_guard": self.llama_guard}


def category_scores(text: str) -> tuple[dict[str, float], dict[str, str]]:
    """Score per category in [0, 1] and the view that produced each non-zero rule score."""
    analysis = analyse(text)
    scores: dict[str, float] = {}
    sources: dict[str, str] = {}
    for c in CATEGORIES:
        rule, how = analysis.rule_max(c)
        model = analysis.model.get(c, 0.0)
        # A stacked classifier has already weighed the rule hits: its probability is the score.
        # Otherwise (plain classifier, or none shipped) the stronger of the two.
        scores[c] = model if analysis.stacked else max(rule, model)
        if scores[c] > 0 and rule > 0 and (analysis.stacked or rule >= model):
            sources[c] = how
    for child, parent in PARENT.items():
        if scores[child] > scores[parent]:
            scores[parent] = scores[child]
            if child in sources:
                sources[parent] = sources[child]
    # A probability is never certainty: capped below 1, so a threshold of 1.0 in config means "never".
    return {c: round(min(s, 0.9999), 4) for c, s in scores.items()}, sources


def moderate(text: str, config: SafetyConfig | None = None) -> ModerationResult:
    """Moderate one text (a prompt or a model answer) against the configured thresholds."""
    if not isinstance(text, str):
        raise TypeError(f"moderate() takes a str, not {type(text).__name__}")
    config = config or load_config()
    scores, sources = category_scores(text)
    flags = {c: scores[c] >= config.threshold(c) for c in CATEGORIES}
    return ModerationResult(flagged=any(flags.values()), categories=flags, category_scores=scores,
                            sources={c: how for c, how in sources.items() if flags[c]})
