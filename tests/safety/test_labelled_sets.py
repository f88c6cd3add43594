"""The labelled sets: well-formed, disjoint, covering every category; and the dev split's floor."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from flywheel.safety import CATEGORIES, check_input
from flywheel.safety.attacks import KINDS

DATA = Path(__file__).resolve().parents[2] / "src" / "flywheel" / "safety" / "data"
SPLITS = {"dev": "devset.jsonl", "train": "trainset.jsonl", "heldout": "heldout.jsonl", "synth": "synthset.jsonl",
          "authored": "authored/*.jsonl"}
# Written only to measure (PROVENANCE.md): never trained on, kept out of the loops below.
MEASURING = {"blind": "blind.jsonl", "blind2": "blind2.jsonl"}
LARGE = ("synth", "authored")  # the rule tests below read every 7th row of these


def load(name: str) -> list[dict]:
    pattern = {**SPLITS, **MEASURING}[name]
    return [json.loads(line) for path in sorted(DATA.glob(pattern))
            for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("name", SPLITS)
def test_rows_are_well_formed(name):
    rows = load(name)
    assert len(rows) >= 200
    for row in rows:
        assert row["split"] == name and row["text"].strip()
        assert row["label"] in ("harmful", "attack", "benign")
        assert set(row["categories"]) <= set(CATEGORIES)
        # An attack row may carry its payload's categories (the authored sets do; training ignores them).
        assert bool(row["categories"]) == (row["label"] == "harmful") or row["label"] == "attack"
        assert (row["attack"] in KINDS) if row["label"] == "attack" else row["attack"] is None
    assert len({r["id"] for r in rows}) == len(rows)


def test_splits_are_disjoint_and_cover_every_category():
    seen: dict[str, str] = {}
    for name in SPLITS:
        for row in load(name):
            key = " ".join(row["text"].lower().split())
            assert key not in seen, f"{row['id']} repeats {seen[key]}"
            seen[key] = row["id"]
    # No measuring row repeats a row that is trained on (held-out rows are measuring rows too).
    trained = {key: id_ for key, id_ in seen.items() if not id_.startswith("heldout-")}
    for name in MEASURING:
        for row in load(name):
            key = " ".join(row["text"].lower().split())
            assert key not in trained, f"measuring row {row['id']} repeats {trained[key]}"
    for name in ("dev", "heldout"):
        # A sub-category's example also counts for its parent.
        counts = Counter(x for r in load(name) for c in r["categories"] for x in {c, c.split("/")[0]})
        assert all(counts[c] >= 1 for c in CATEGORIES), counts
        kinds = Counter(r["attack"] for r in load(name) if r["attack"])
        assert set(kinds) == set(KINDS)


def test_dev_split_meets_the_goals():
    # A regression guard on the split the rules were written against; the held-out figures are
    # measured (not asserted) by benchmarks/safety.py.
    rows = load("dev")
    blocked = [check_input([{"role": "user", "content": r["text"]}]).blocked for r in rows]
    bad = [b for r, b in zip(rows, blocked) if r["label"] != "benign"]
    good = [b for r, b in zip(rows, blocked) if r["label"] == "benign"]
    assert sum(bad) / len(bad) >= 0.95
    assert sum(good) / len(good) <= 0.03


def test_rule_prefilter_never_skips_a_rule_that_would_match():
    # rule_scores skips a rule when none of its necessary substrings occur; check that claim on
    # every view of every labelled text (a wrong prefilter would silently lose recall).
    from flywheel.safety.normalize import views
    from flywheel.safety.rules import compiled

    rules = compiled()[0]
    assert sum(needs is not None for *_, needs in rules) > len(rules) // 2
    for name in SPLITS:
        # The generated split is large and repetitive: every 7th row keeps the test fast.
        rows = load(name)[::7] if name in LARGE else load(name)
        for row in rows:
            for view in views(row["text"]):
                for label, _, pattern, needs in rules:
                    if needs is not None and pattern.search(view.text):
                        assert any(n in view.text for n in needs), (label, view.text)


def test_rules_searched_in_pieces_match_as_the_whole_rule():
    # compiled() searches a rule's top-level alternatives separately; on every view of the labelled
    # texts, some piece must match exactly when the whole rule does.
    import re

    from flywheel.safety.normalize import views
    from flywheel.safety.rules import RULES, _pieces

    whole = [(re.compile(p), [re.compile(piece) for piece, _ in _pieces(p)]) for _, _, p in RULES]
    for name in SPLITS:
        rows = load(name)[::7] if name in LARGE else load(name)
        for row in rows:
            for view in views(row["text"]):
                for pattern, pieces in whole:
                    assert bool(pattern.search(view.text)) == any(p.search(view.text) for p in pieces), pattern.pattern[:60]


def test_indexed_rule_scores_equal_searching_every_rule():
    # rule_scores searches only the rules its needle index admits; the answer must be the one a search
    # of every compiled rule gives (highest weight per label, then the same benign discounts).
    from flywheel.safety.normalize import views
    from flywheel.safety.rules import compiled, rule_scores

    rules, benign = compiled()

    def every_rule(text: str) -> dict[str, float]:
        scores: dict[str, float] = {}
        for label, weight, pattern, _ in rules:
            if pattern.search(text):
                scores[label] = max(weight, scores.get(label, 0.0))
        for labels, factor, pattern in benign:
            if any(label in scores for label in labels) and pattern.search(text):
                for label in labels:
                    if label in scores:
                        scores[label] *= factor
        return scores

    checked = 0
    for name in SPLITS:
        rows = load(name)[::7] if name in LARGE else load(name)
        for row in rows:
            for view in views(row["text"]):
                assert rule_scores(view.text) == every_rule(view.text), view.text
                checked += 1
    assert checked > 1000
