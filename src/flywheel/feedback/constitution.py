"""Constitutional AI: critique answers against written principles, revise them, and judge pairs (AI feedback).

The principles live in `constitution.yaml` (beside this file; see its header for the check kinds and
revision strategies). Each check calls the safety library (`flywheel.safety`: moderate, find_pii,
mask_pii, filter_output) or a judge bound at run time (a reward model, or a rule such as the simulated
users' `flywheel.feedback.users:judge`), so the constitution and the chat gateway hold answers to the
same rules.

Two stages, as in Bai et al. (2022):

- **supervised**: sample answers to red-team prompts, `critique` each against every principle, `revise`
  the ones that violate something, and fine-tune on the revisions: `supervised_examples` returns them as
  SFT chats, `write_sft_channel` as a shard channel for `training_jobs/train.py --init-from <champion>`.
- **RL from AI feedback**: sample two answers per prompt, let `judge` pick the one that violates less
  (weighted by principle), breaking ties with the judge principle; `ai_feedback_pairs` returns them in the
  preference-pair format (source "ai_feedback"), to append to the users' pairs for preference tuning.

    python -m flywheel.feedback.constitution --model runs/champion --out runs/cai [--prompts red_team.jsonl]

writes `revisions.jsonl` (prompt, original, revised answer, violated principles), `sft_channel/` (shards
of the revisions), `ai_pairs.jsonl` (preference pairs) and `stats.json`; `--policy` puts the active system
policy in front of each prompt, as the chat API does, so the pairs match what the served model sees.
One set of samples serves both stages: the first of each prompt's two answers is critiqued and revised,
the pair is judged. `flywheel turn` runs this on its champion and adds both outputs to the preference
round. This module knows no training loop and no AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flywheel.feedback.preferences import content_id, prompt_hash

DEFAULT_PATH = Path(__file__).with_name("constitution.yaml")
CHECKS = ("moderation", "pii", "policy", "judge")
STRATEGIES = ("refuse", "mask_pii", "none")
Scorer = Callable[[list[dict], str], float]  # (prompt messages, answer) -> higher is better


class ConstitutionError(ValueError):
    """A constitution file that is missing, malformed or names an unknown check or revision."""


@dataclass(frozen=True)
class Principle:
    id: str
    text: str
    check: str
    categories: tuple[str, ...] = ()
    strategy: str = "none"
    template: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class Critique:
    principle: str
    violated: bool
    detail: str
    refusal: str | None = None  # the safety library's replacement text, when it produced one


@dataclass
class Constitution:
    version: str
    principles: list[Principle]
    scorer: Scorer | None = field(default=None, repr=False)  # binds the "judge" principles

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH, scorer: Scorer | None = None) -> Constitution:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConstitutionError(f"cannot read constitution {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("principles"), list) or not data["principles"]:
            raise ConstitutionError(f"{path}: expected a mapping with a non-empty `principles` list")
        principles, seen = [], set()
        for i, p in enumerate(data["principles"]):
            try:
                check, revision = p["check"], p.get("revision") or {}
                principle = Principle(id=str(p["id"]), text=str(p["text"]).strip(), check=check["kind"],
                                      categories=tuple(check.get("categories") or ()),
                                      strategy=revision.get("strategy", "none"), template=revision.get("template"),
                                      weight=float(p.get("weight", 1.0)))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConstitutionError(f"{path}: principle {i} is malformed ({exc})") from None
            if principle.check not in CHECKS:
                raise ConstitutionError(f"{path}: principle {principle.id!r} has unknown check {principle.check!r}")
            if principle.strategy not in STRATEGIES:
                raise ConstitutionError(f"{path}: principle {principle.id!r} has unknown revision "
                                        f"{principle.strategy!r}")
            if principle.id in seen:
                raise ConstitutionError(f"{path}: principle id {principle.id!r} appears twice")
            seen.add(principle.id)
            principles.append(principle)
        return cls(str(data.get("version", "unversioned")), principles, scorer)

    # ---------------------------------------------------------------------------------- critique
    def critique(self, answer: str) -> list[Critique]:
        """One critique per checkable principle (judge principles rank, they do not critique)."""
        from flywheel.safety import filter_output, find_pii, moderate

        out = []
        for p in self.principles:
            if p.check == "moderation":
                flagged = [c for c in moderate(answer).flagged_categories
                           if not p.categories or c in p.categories or c.split("/")[0] in p.categories]
                out.append(Critique(p.id, bool(flagged), f"moderation flags {flagged}" if flagged else "clean"))
            elif p.check == "pii":
                found = sorted({m.type for m in find_pii(answer)})
                out.append(Critique(p.id, bool(found), f"personal data: {found}" if found else "none found"))
            elif p.check == "policy":
                verdict = filter_output(answer)
                out.append(Critique(p.id, verdict.flagged, f"withheld by {verdict.policy}" if verdict.flagged
                                    else "passes the output filter", verdict.text if verdict.flagged else None))
        return out

    def violations(self, critiques: list[Critique]) -> float:
        weights = {p.id: p.weight for p in self.principles}
        return sum(weights[c.principle] for c in critiques if c.violated)

    # ------------------------------------------------------------------------------------ revise
    def revise(self, answer: str, critiques: list[Critique]) -> str:
        """The answer with every violated principle's revision applied; a refusal ends the revision."""
        from flywheel.safety import mask_pii

        by_id = {p.id: p for p in self.principles}
        revised = answer
        for c in sorted((c for c in critiques if c.violated), key=lambda c: -by_id[c.principle].weight):
            p = by_id[c.principle]
            if p.strategy == "refuse":
                return c.refusal or p.template or "I can't help with that."
            if p.strategy == "mask_pii":
                revised, _ = mask_pii(revised)
        return revised

    # ------------------------------------------------------------------------------------- judge
    def judge(self, prompt: list[dict], a: str, b: str) -> float:
        """1.0 if `a` is preferred, 0.0 if `b`, 0.5 if the constitution cannot tell them apart."""
        va, vb = self.violations(self.critique(a)), self.violations(self.critique(b))
        if va != vb:
            return 1.0 if va < vb else 0.0
        if self.scorer is not None and any(p.check == "judge" for p in self.principles):
            sa, sb = self.scorer(prompt, a), self.scorer(prompt, b)
            if sa != sb:
                return 1.0 if sa > sb else 0.0
        return 0.5


def supervised_examples(constitution: Constitution, prompts: list[list[dict]], answers: list[str]
                        ) -> tuple[list[dict], Counter]:
    """SFT chats (prompt + revised answer) for the answers that violated a principle; stats by principle."""
    examples, stats = [], Counter()
    for prompt, answer in zip(prompts, answers):
        critiques = constitution.critique(answer)
        stats["answers"] += 1
        violated = [c.principle for c in critiques if c.violated]
        if not violated:
            stats["clean"] += 1
            continue
        stats.update(f"violated.{v}" for v in violated)
        revised = constitution.revise(answer, critiques)
        examples.append({"messages": [*prompt, {"role": "assistant", "content": revised}],
                         "original": answer, "violated": violated, "constitution": constitution.version})
    stats["revised"] = len(examples)
    return examples, stats


def ai_feedback_pairs(constitution: Constitution, prompts: list[list[dict]], answer_pairs: list[tuple[str, str]]
                      ) -> tuple[list[dict], Counter]:
    """Preference pairs labelled by the constitution's judge; ties and identical answers are counted, not kept."""
    pairs, stats = [], Counter()
    for prompt, (a, b) in zip(prompts, answer_pairs):
        if a == b:
            stats["dropped.identical_answers"] += 1
            continue
        verdict = constitution.judge(prompt, a, b)
        if verdict == 0.5:
            stats["dropped.tie"] += 1
            continue
        chosen, rejected = (a, b) if verdict == 1.0 else (b, a)
        p_hash = prompt_hash(prompt)
        pairs.append({"pair_id": content_id(p_hash, chosen, rejected), "prompt": prompt,
                      "chosen": [{"role": "assistant", "content": chosen}],
                      "rejected": [{"role": "assistant", "content": rejected}],
                      "prompt_hash": p_hash, "source": "ai_feedback", "constitution": constitution.version})
    stats["pairs"] = len(pairs)
    return pairs, stats


def write_sft_channel(directory: str | Path, tokenizer, examples: list[dict], version: str) -> dict:
    """The revisions as an SFT shard channel (`flywheel.data.shards`), ready for the training job."""
    from flywheel.data.shards import write_channel

    docs = [tokenizer.encode_chat(e["messages"]) for e in examples]
    return write_channel(directory, tokenizer, {"train": docs}, kind="sft", data_version=version)


def main(argv: list[str] | None = None) -> int:
    from flywheel.feedback.evaluation import load_model, red_team_prompts
    from flywheel.model.sample import generate

    parser = argparse.ArgumentParser(prog="python -m flywheel.feedback.constitution", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the model whose answers are critiqued (the champion)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--constitution", default=str(DEFAULT_PATH))
    parser.add_argument("--prompts", default=None, help="red-team JSONL ({text} or {prompt}); default: the safety set")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--judge", default=None, help="module:function(prompt, answer) -> score for the judge principle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", action="store_true", help="prefix each prompt with the active system policy")
    args = parser.parse_args(argv)
    scorer = None
    if args.judge:
        import importlib

        module, _, name = args.judge.partition(":")
        scorer = getattr(importlib.import_module(module), name)
    try:
        constitution = Constitution.load(args.constitution, scorer)
    except ConstitutionError as exc:
        print(f"constitution: {exc}", file=sys.stderr)
        return 1
    artifact = load_model(args.model)
    tok = artifact.tokenizer
    prompts = red_team_prompts(args.prompts, args.limit)
    if args.policy:
        from flywheel.safety import apply_policy

        prompts = [apply_policy(p) for p in prompts]
    samples = []
    for k, prompt in enumerate(prompts):
        ids, _ = tok.encode_chat(prompt, add_generation_prompt=True)
        ids = ids[-(artifact.config.block_size - args.max_new_tokens):]
        samples.append(tuple(tok.decode(generate(artifact, ids, args.max_new_tokens, temperature=1.0,
                                                 seed=args.seed * 100_003 + 2 * k + j)) for j in range(2)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    examples, sl_stats = supervised_examples(constitution, prompts, [a for a, _ in samples])
    (out / "revisions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    if examples:
        write_sft_channel(out / "sft_channel", tok, examples, f"cai-sl-{constitution.version}-{artifact.version}")
    pairs, rl_stats = ai_feedback_pairs(constitution, prompts, samples)
    (out / "ai_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    stats = {"constitution": constitution.version, "model": artifact.version, "prompts": len(prompts),
             "supervised": dict(sl_stats), "ai_feedback": dict(rl_stats)}
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
