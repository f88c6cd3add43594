"""Synthetic chats and the simulated users' prompts: the data a preference round is run on locally.

A fixed set of subjects (a Python word and a short fact about it), asked in four phrasings. The SFT
chat log answers each in one of two styles — warm ("Glad you asked! ... Hope this helps.") with
probability `WARM_SHARE`, curt ("Fine. ...") otherwise — so a model fine-tuned on it answers mostly curt
and a preference round driven by `flywheel.feedback.users` (the warmer answer wins) has room to move it.
The round's users ask about `ROUND_SUBJECTS`; the evaluation asks about `EVAL_SUBJECTS`, which the
round never saw.

It knows nothing about models, tokenizers or the API: it returns plain strings and message lists.

    from flywheel.feedback import synthetic
    chats = synthetic.sft_chats(random.Random(0), copies=6)     # [[user, assistant], ...], shuffled
    prompts = synthetic.prompts_for(synthetic.ROUND_SUBJECTS)   # what the simulated users ask

Used by `flywheel turn` (`flywheel.local.turn`) and `benchmarks/preference_rounds.py`, so the
benchmark's figures speak for the turn's round.
"""

from __future__ import annotations

import random

SUBJECTS = [
    ("lists", "ordered and mutable"), ("tuples", "ordered and fixed"), ("sets", "unordered and unique"),
    ("dicts", "maps from keys to values"), ("strings", "sequences of characters"), ("bytes", "raw octets"),
    ("files", "named streams on disk"), ("paths", "names of files"), ("queues", "first in, first out"),
    ("stacks", "last in, first out"), ("loops", "repeated blocks"), ("functions", "named blocks of code"),
    ("classes", "blueprints for objects"), ("modules", "files of code"), ("numbers", "values you count with"),
    ("dates", "days on a calendar"), ("threads", "parallel paths of work"), ("sockets", "ends of a connection"),
    ("heaps", "trees kept in order"), ("graphs", "nodes joined by edges"), ("arrays", "blocks of equal items"),
    ("maps", "lookups by key"), ("tests", "checks that code works"), ("logs", "records of events"),
]
TEMPLATES = ["Tell me about {s}.", "What are {s}?", "Explain {s} briefly.", "Describe {s}."]
ROUND_SUBJECTS, EVAL_SUBJECTS = SUBJECTS[:18], SUBJECTS[18:]
WARM_SHARE = 0.3  # share of warm answers in the SFT chat log


def answer(subject: str, fact: str, warm: bool) -> str:
    core = f"{subject.capitalize()} are {fact}."
    # Both styles open with one fixed word, so the champion's greedy answer follows the majority style.
    return f"Glad you asked! {core} Hope this helps." if warm else f"Fine. {core}"


def prompts_for(subjects) -> list[str]:
    return [t.format(s=s) for s, _ in subjects for t in TEMPLATES]


def sft_chats(rng: random.Random, copies: int) -> list[list[dict]]:
    """`copies` passes over every subject and phrasing, each answer's style drawn from `rng`; shuffled."""
    chats = []
    for _ in range(copies):
        for s, fact in SUBJECTS:
            for t in TEMPLATES:
                chats.append([{"role": "user", "content": t.format(s=s)},
                              {"role": "assistant", "content": answer(s, fact, rng.random() < WARM_SHARE)}])
    rng.shuffle(chats)
    return chats
