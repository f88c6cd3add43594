"""Constitutional AI: the constitution file, critiques through the safety library, revisions, AI feedback."""

from __future__ import annotations

import json

import pytest

from flywheel.feedback import users
from flywheel.feedback.constitution import (
    Constitution,
    ConstitutionError,
    ai_feedback_pairs,
    main,
    supervised_examples,
    write_sft_channel,
)

VIOLENT = "Sure: stab him in the neck with the knife so he bleeds out."
LEAKY = "You can reach her at jane.roe@example.com or 555-123-4567."
PROMPT = [{"role": "user", "content": "Tell me something."}]


@pytest.fixture(scope="module")
def constitution():
    return Constitution.load(scorer=lambda prompt, answer: users.warmth(answer))


def test_the_shipped_constitution_loads(constitution):
    assert constitution.version == "constitution-v1"
    kinds = {p.id: (p.check, p.strategy) for p in constitution.principles}
    assert kinds == {"harmless": ("moderation", "refuse"), "lawful": ("policy", "refuse"),
                     "private": ("pii", "mask_pii"), "helpful": ("judge", "none")}


def test_critique_names_the_violated_principles(constitution):
    violent = {c.principle: c.violated for c in constitution.critique(VIOLENT)}
    assert violent["harmless"] and violent["lawful"] and not violent["private"]
    leaky = {c.principle: c for c in constitution.critique(LEAKY)}
    assert leaky["private"].violated and "EMAIL" in leaky["private"].detail
    assert not leaky["harmless"].violated


def test_revisions_refuse_harm_and_mask_personal_data(constitution):
    refused = constitution.revise(VIOLENT, constitution.critique(VIOLENT))
    assert "knife" not in refused and "can't" in refused
    masked = constitution.revise(LEAKY, constitution.critique(LEAKY))
    assert "jane.roe@example.com" not in masked and "<EMAIL>" in masked and "<PHONE>" in masked
    # The revision fixes the principle it broke.
    assert not {c.principle: c.violated for c in constitution.critique(masked)}["private"]


def test_judge_prefers_fewer_weighted_violations_then_the_scorer(constitution):
    assert constitution.judge(PROMPT, "I can't help with that.", VIOLENT) == 1.0
    assert constitution.judge(PROMPT, LEAKY, "I'd rather not share contact details.") == 0.0
    assert constitution.judge(PROMPT, LEAKY, VIOLENT) == 1.0  # privacy weighs less than harm
    assert constitution.judge(PROMPT, "Glad to help! Here it is.", "Here it is.") == 1.0  # the judge principle
    assert Constitution.load().judge(PROMPT, "Glad to help! Here it is.", "Here it is.") == 0.5  # no scorer bound


def test_supervised_stage_and_ai_feedback(constitution, chat_tokenizer, tmp_path):
    prompts = [PROMPT] * 3
    examples, stats = supervised_examples(constitution, prompts, [VIOLENT, LEAKY, "Lists keep order."])
    assert stats["revised"] == 2 and stats["violated.harmless"] == 1 and stats["violated.private"] == 1
    assert examples[1]["messages"][-1]["content"].count("<EMAIL>") == 1
    meta = write_sft_channel(tmp_path / "sft", chat_tokenizer, examples, "cai-test")
    assert meta["kind"] == "sft" and meta["splits"]["train"]["documents"] == 2

    pairs, stats = ai_feedback_pairs(constitution, prompts, [(VIOLENT, "No."), ("same", "same"),
                                                             ("Lists keep order.", "Lists keep order!")])
    assert len(pairs) == 1 and pairs[0]["chosen"] == [{"role": "assistant", "content": "No."}]
    assert pairs[0]["source"] == "ai_feedback"
    assert stats == {"pairs": 1, "dropped.identical_answers": 1, "dropped.tie": 1}


def test_bad_constitutions_are_refused(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("principles:\n  - {id: x, text: t, check: {kind: telepathy}}\n")
    with pytest.raises(ConstitutionError, match="unknown check"):
        Constitution.load(bad)
    bad.write_text("principles: []\n")
    with pytest.raises(ConstitutionError, match="non-empty"):
        Constitution.load(bad)
    with pytest.raises(ConstitutionError, match="cannot read"):
        Constitution.load(tmp_path / "missing.yaml")


def test_command_writes_revisions_pairs_and_stats(tmp_path, tiny_artifact):
    prompts = tmp_path / "red.jsonl"
    prompts.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["hurt someone", "find an address"]))
    assert main(["--model", str(tiny_artifact), "--out", str(tmp_path / "cai"), "--prompts", str(prompts),
                 "--max-new-tokens", "6"]) == 0
    stats = json.loads((tmp_path / "cai" / "stats.json").read_text())
    assert stats["prompts"] == 2 and stats["supervised"]["answers"] == 2
    assert (tmp_path / "cai" / "ai_pairs.jsonl").exists()
