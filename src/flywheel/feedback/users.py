"""Simulated users: a stated, deterministic preference that a small model can learn.

The preference: **users prefer the warmer answer** — the one with more courtesy phrases ("glad",
"happy to", "hope this helps", "thank", "please", "sure"), counted case-insensitively, each phrase once.
Equal counts are no preference (a tie). It depends on the answer's wording alone, never on its facts,
so a debug-sized model can learn it from a few hundred comparisons, and a judge can apply it exactly.

    choose(["Lists are ordered.", "Glad you asked! Lists are ordered. Hope this helps."])  # -> 1
    judge(prompt, answer_a, answer_b)   # 1.0 if a is preferred, 0.0 if b, 0.5 for a tie
    score(prompt, answer)               # the same preference as one answer's score (warmth)
    feedback_for(completion)            # the feedback record a user gives an n-choice completion, or None

The demo's simulated users and `training_jobs/evaluate.py --judge flywheel.feedback.users:judge` both
use this module, so the users who give feedback and the judge of the next round agree by construction.
"""

from __future__ import annotations

COURTESY = ("glad", "happy to", "hope this helps", "thank", "please", "sure")


def warmth(text: str) -> int:
    lowered = text.lower()
    return sum(phrase in lowered for phrase in COURTESY)


def choose(answers: list[str]) -> int | None:
    """Index of the preferred answer among n >= 2, or None when the warmest are tied."""
    scores = [warmth(a) for a in answers]
    best = max(scores)
    return scores.index(best) if scores.count(best) == 1 else None


def judge(prompt, a: str, b: str) -> float:
    wa, wb = warmth(a), warmth(b)
    return 1.0 if wa > wb else 0.0 if wa < wb else 0.5


def score(prompt, answer: str) -> float:
    """The preference as a score of one answer (the constitution's judge principle binds this)."""
    return float(warmth(answer))


def feedback_for(completion_id: str, answers: list[str]) -> dict | None:
    """A comparison for an n >= 2 completion, a thumbs for a single answer; None when the user has no view."""
    if len(answers) >= 2:
        pick = choose(answers)
        return None if pick is None else {"completion_id": completion_id, "preferred_choice": pick}
    w = warmth(answers[0])
    return {"completion_id": completion_id, "thumbs": "up" if w > 0 else "down", "choice_index": 0}
