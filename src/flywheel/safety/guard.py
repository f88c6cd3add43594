"""The two checkpoints of a chat request: `check_input` before the model, `filter_output` after it.

They apply Bedrock Guardrails' five policy types from `SafetyConfig`:

| policy type            | input (`check_input`)                   | output (`filter_output`)          |
| ---------------------- | --------------------------------------- | --------------------------------- |
| content filters        | block if any category is flagged        | replace the answer with a refusal |
| denied topics          | block                                   | replace with a refusal            |
| word filters           | block                                   | replace with a refusal            |
| sensitive information  | `pii_input_action`: none / mask / block | `pii_output_action`: mask (default) / block / none |
| prompt attack          | block (see `attacks.py`)                | not applied (answers are not instructions) |

    verdict = check_input([{"role": "user", "content": "hi"}])
    verdict.blocked, verdict.categories, verdict.attack, verdict.reason, verdict.policy_version
    out = filter_output("Sure! Email me at bob@example.com")
    out.text          # "Sure! Email me at <EMAIL>"  (pii.py's placeholders)
    out.flagged, out.policy, out.categories, out.pii

Which messages are checked: every message the client wrote (user, and system/developer/tool, which
`apply_policy` demotes to user) is moderated and checked for attacks; assistant messages in the history
are checked for attacks only (a forged history is an injection vector, but a past refusal that names
a harm is not itself harmful). Malformed messages raise `PolicyError` (a 400 for the API).
Knows nothing of HTTP, models or logging.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from flywheel.safety.attacks import detect_attack
from flywheel.safety.config import DeniedTopic, SafetyConfig, load_config
from flywheel.safety.moderation import ModerationResult, moderate
from flywheel.safety.pii import mask_pii
from flywheel.safety.policy import active_policy, validate_messages
from flywheel.safety.scoring import analyse
from flywheel.safety.taxonomy import CATEGORIES

SELF_HARM_SUPPORT = ("If you are thinking about harming yourself, you deserve support: please contact a "
                     "crisis line (988 in the US, 116 123 in the UK and Ireland) or local emergency services.")


@dataclass(frozen=True)
class InputVerdict:
    blocked: bool
    categories: list[str]        # flagged moderation categories, then "denied_topic:<name>", "word_filter", "pii"
    attack: str | None           # the attack kind, when one was detected
    reason: str
    policy_version: str
    moderation: ModerationResult
    pii: dict[str, int] = field(default_factory=dict)
    # When pii_input_action is "mask": the client's messages with PII masked (else None).
    masked_messages: list[dict] | None = None

    def to_dict(self) -> dict:
        return {"blocked": self.blocked, "categories": list(self.categories), "attack": self.attack,
                "reason": self.reason, "policy_version": self.policy_version,
                "moderation": self.moderation.to_dict(), "pii": dict(self.pii)}


@dataclass(frozen=True)
class OutputVerdict:
    text: str                    # what may be shown: the answer PII-masked, or a refusal
    flagged: bool                # True when the answer was replaced by a refusal
    policy: str | None           # the policy it hit: "content_filter:<category>", "denied_topic:<name>", ...
    categories: list[str]
    pii: dict[str, int]          # PII found in the answer, by type (masked unless pii_output_action is "none")
    policy_version: str = ""

    def to_dict(self) -> dict:
        return {"text": self.text, "flagged": self.flagged, "policy": self.policy,
                "categories": list(self.categories), "pii": dict(self.pii),
                "policy_version": self.policy_version}


@functools.lru_cache(maxsize=256)
def _topic_pattern(topic: DeniedTopic) -> re.Pattern:
    return topic.compiled()


def denied_topics(text: str, config: SafetyConfig) -> list[str]:
    if not config.denied_topics:
        return []
    texts = [v.text for v in analyse(text).views]  # the views moderation already computed (cached)
    return [t.name for t in config.denied_topics if any(_topic_pattern(t).search(x) for x in texts)]


def word_filter_hits(text: str, config: SafetyConfig) -> list[str]:
    if not config.word_filters:
        return []
    texts = [v.text for v in analyse(text).views]
    return [w for w in config.word_filters
            if any(re.search(rf"(?<!\w){re.escape(w.lower())}(?!\w)", x) for x in texts)]


def _merge(results: list[ModerationResult]) -> ModerationResult:
    if len(results) == 1:
        return results[0]
    scores = {c: max(r.category_scores[c] for r in results) for c in CATEGORIES}
    flags = {c: any(r.categories[c] for r in results) for c in CATEGORIES}
    sources: dict[str, str] = {}
    for r in results:
        sources.update(r.sources)
    return ModerationResult(any(flags.values()), flags, scores, sources)


def check_input(messages: list[dict], config: SafetyConfig | None = None) -> InputVerdict:
    """Decide whether a chat request may reach the model (raises PolicyError if malformed)."""
    config = config or load_config()
    pairs = validate_messages(messages)
    policy = active_policy(config)
    client_texts = [text for role, text in pairs if role != "assistant" and text]
    moderation = _merge([moderate(t, config) for t in client_texts] or [moderate("", config)])
    categories = list(moderation.flagged_categories)

    attack = None
    for role, text in reversed(pairs):
        if text:
            result = detect_attack(text, config)
            if result.detected:
                attack = result
                break
    topics = sorted({name for t in client_texts for name in denied_topics(t, config)})
    words = sorted({w for t in client_texts for w in word_filter_hits(t, config)})
    categories += [f"denied_topic:{name}" for name in topics] + (["word_filter"] if words else [])

    pii_counts: dict[str, int] = {}
    masked = None
    if config.pii_input_action != "none":
        if config.pii_input_action == "mask":
            masked = []
            for message, (role, text) in zip(messages, pairs):
                masked_text, counts = mask_pii(text)
                for kind, n in counts.items():
                    pii_counts[kind] = pii_counts.get(kind, 0) + n
                masked.append({**message, "content": masked_text})
        else:
            for text in client_texts:
                for kind, n in mask_pii(text)[1].items():
                    pii_counts[kind] = pii_counts.get(kind, 0) + n
            if pii_counts:
                categories.append("pii")

    reasons = []
    if attack:
        reasons.append(f"prompt attack ({attack.kind}): {attack.reason}")
    if moderation.flagged:
        via = {moderation.sources.get(c) for c in moderation.flagged_categories} - {None, "plain"}
        hidden = f" (found in {', '.join(sorted(via))}-encoded text)" if via else ""
        reasons.append(f"content filter: {', '.join(moderation.flagged_categories)}{hidden}")
        if any(c.startswith("self-harm") for c in moderation.flagged_categories):
            reasons.append(SELF_HARM_SUPPORT)
    if topics:
        reasons.append(f"denied topic: {', '.join(topics)}")
    if words:
        reasons.append(f"word filter: {len(words)} blocked term(s)")
    if "pii" in categories:
        reasons.append(f"sensitive information: {', '.join(sorted(pii_counts))}")
    blocked = bool(reasons)
    return InputVerdict(blocked=blocked, categories=categories, attack=attack.kind if attack else None,
                        reason="; ".join(reasons) if blocked else "allowed",
                        policy_version=policy.version, moderation=moderation, pii=pii_counts,
                        masked_messages=masked)


def refusal(policy: str, detail: str, config: SafetyConfig) -> str:
    return config.refusal_template.format(policy=policy, detail=detail)


def filter_output(text: str, config: SafetyConfig | None = None) -> OutputVerdict:
    """Moderate a model's answer and mask its PII; a flagged answer becomes a refusal naming the policy."""
    if not isinstance(text, str):
        raise TypeError(f"filter_output() takes a str, not {type(text).__name__}")
    config = config or load_config()
    version = active_policy(config).version
    moderation = moderate(text, config)
    categories = moderation.flagged_categories
    topics = denied_topics(text, config)
    words = word_filter_hits(text, config)
    pii_counts: dict[str, int] = {}
    shown = text
    if config.pii_output_action != "none":
        shown, pii_counts = mask_pii(text)
        pii_counts = dict(pii_counts)

    policy = detail = None
    if categories:
        # Name the most specific category hit (a sub-category when there is one).
        top = max(categories, key=lambda c: ("/" in c, moderation.category_scores[c]))
        policy, detail = f"content_filter:{top}", f"flagged: {', '.join(categories)}; system policy {version}"
    elif topics:
        policy, detail = f"denied_topic:{topics[0]}", f"system policy {version}"
        categories = [f"denied_topic:{t}" for t in topics]
    elif words:
        policy, detail = "word_filter", f"{len(words)} blocked term(s); system policy {version}"
        categories = ["word_filter"]
    elif config.pii_output_action == "block" and pii_counts:
        policy, detail = "sensitive_information", f"{', '.join(sorted(pii_counts))}; system policy {version}"
        categories = ["pii"]
    if policy:
        return OutputVerdict(refusal(policy, detail, config), True, policy, categories, pii_counts, version)
    return OutputVerdict(shown, False, None, [], pii_counts, version)
