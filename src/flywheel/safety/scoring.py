"""One pass over a text: its views (plain, de-obfuscated, decoded), the rule scores of each, and the
classifier's probabilities (a stacked classifier takes the rule scores as inputs). `moderate` and
`detect_attack` both read the same `Analysis`, and the last few thousand analyses are cached, so
checking one message for both costs one pass.

Knows nothing of thresholds: `moderation.py` and `attacks.py` turn scores into verdicts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flywheel.safety import classifier
from flywheel.safety.normalize import View, views
from flywheel.safety.rules import rule_scores


@dataclass(frozen=True)
class Analysis:
    views: tuple[View, ...]
    rules: tuple[dict[str, float], ...]  # one per view, same order
    model: dict[str, float]              # classifier probability per label, on the best view
    stacked: bool = False                # the classifier took the rules as inputs: its probability decides

    def rule_max(self, label: str) -> tuple[float, str]:
        """The highest rule score for `label` over all views, and the view (`how`) that gave it."""
        best, how = 0.0, "plain"
        for view, scores in zip(self.views, self.rules):
            if scores.get(label, 0.0) > best:
                best, how = scores[label], view.how
        return best, how


@functools.lru_cache(maxsize=4096)
def analyse(text: str) -> Analysis:
    vs = tuple(views(text))
    rules = tuple(rule_scores(v.text) for v in vs)
    # The rules' best score per label over every view is an input of a stacked classifier only.
    stacked = classifier.stacked()
    hits = classifier.rule_features(rules) if stacked else None
    model = classifier.predict(vs[0].text, hits)
    # A decoded payload is judged on its own too: the classifier sees each non-plain view and the
    # highest probability per label wins (these views are rare, so the cost is too).
    for v in vs[1:]:
        for label, p in classifier.predict(v.text, hits).items():
            if p > model.get(label, 0.0):
                model[label] = p
    return Analysis(vs, rules, model, stacked)
