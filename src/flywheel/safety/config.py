"""Safety configuration: thresholds, denied topics, word filters, PII actions, the active policy.

The shape follows Amazon Bedrock Guardrails' policy types — content filters (a threshold per
moderation category), denied topics, word filters, sensitive information (PII) and prompt attack —
so an operator who knows Guardrails can read it. Defaults live in `data/config.json` inside the
package; a deployment points `FLYWHEEL_SAFETY_CONFIG` at its own JSON file (same keys, any subset).

    cfg = load_config()                       # cached; the packaged defaults or $FLYWHEEL_SAFETY_CONFIG
    cfg = SafetyConfig.from_json(path)        # explicit
    cfg = SafetyConfig.from_dict({...})       # tests

This module only reads and validates configuration; it does not score anything.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from flywheel.safety.taxonomy import CATEGORIES

DEFAULT_CONFIG_PATH = Path(__file__).with_name("data") / "config.json"
CONFIG_ENV = "FLYWHEEL_SAFETY_CONFIG"
# Picks another packaged (or policy_dir) system policy without a config file: small local models use
# "compact", whose few tokens leave room for a chat in a 256-token context.
POLICY_VERSION_ENV = "FLYWHEEL_POLICY_VERSION"
PII_ACTIONS = ("none", "mask", "block")


class SafetyConfigError(ValueError):
    """The configuration file or dict is malformed (names the key at fault)."""


@dataclass(frozen=True)
class DeniedTopic:
    """A topic the deployment refuses, as Bedrock's denied topics: a name, a definition for people,
    and the regular expressions (case-insensitive, on normalised text) that recognise it."""

    name: str
    definition: str
    patterns: tuple[str, ...]
    examples: tuple[str, ...] = ()

    def compiled(self) -> re.Pattern:
        return re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE)


@dataclass(frozen=True)
class SafetyConfig:
    # Content filters: a category is flagged when its score reaches its threshold (0..1).
    thresholds: dict[str, float] = field(default_factory=lambda: {c: 0.5 for c in CATEGORIES})
    # Prompt attack: flagged when the attack score reaches this.
    attack_threshold: float = 0.5
    denied_topics: tuple[DeniedTopic, ...] = ()
    # Word filters: whole words or phrases (case-insensitive) that block an input and redact an output.
    word_filters: tuple[str, ...] = ()
    # Sensitive information: what to do with PII found in a user's input and in a model's output.
    pii_input_action: str = "none"
    pii_output_action: str = "mask"
    # The system policy version the server applies (a file `data/policies/<version>.txt`).
    policy_version: str = "v1"
    policy_dir: str = ""
    # What a blocked output is replaced with; {policy} is the policy it hit.
    refusal_template: str = ("I can't help with that: the answer was withheld by the {policy} policy "
                             "({detail}).")

    def __post_init__(self) -> None:
        unknown = set(self.thresholds) - set(CATEGORIES)
        if unknown:
            raise SafetyConfigError(f"thresholds: unknown categories {sorted(unknown)}")
        for name, value in self.thresholds.items():
            if not 0.0 <= float(value) <= 1.0:
                raise SafetyConfigError(f"thresholds[{name!r}] = {value!r}: must be within 0..1")
        if not 0.0 <= self.attack_threshold <= 1.0:
            raise SafetyConfigError(f"attack_threshold = {self.attack_threshold!r}: must be within 0..1")
        for key in ("pii_input_action", "pii_output_action"):
            if getattr(self, key) not in PII_ACTIONS:
                raise SafetyConfigError(f"{key} = {getattr(self, key)!r}: expected one of {PII_ACTIONS}")
        for topic in self.denied_topics:
            try:
                topic.compiled()
            except re.error as exc:
                raise SafetyConfigError(f"denied topic {topic.name!r}: bad pattern ({exc})") from exc

    def threshold(self, category: str) -> float:
        return float(self.thresholds.get(category, 0.5))

    @classmethod
    def from_dict(cls, raw: dict) -> SafetyConfig:
        if not isinstance(raw, dict):
            raise SafetyConfigError("the safety configuration must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known - {"$comment"}
        if unknown:
            raise SafetyConfigError(f"unknown configuration keys {sorted(unknown)}")
        kwargs = {k: v for k, v in raw.items() if k in known}
        if "thresholds" in kwargs:
            # A partial map overrides the defaults for the categories it names only.
            kwargs["thresholds"] = {**{c: 0.5 for c in CATEGORIES}, **kwargs["thresholds"]}
        if "denied_topics" in kwargs:
            try:
                kwargs["denied_topics"] = tuple(
                    DeniedTopic(name=t["name"], definition=t.get("definition", ""),
                                patterns=tuple(t["patterns"]), examples=tuple(t.get("examples", ())))
                    for t in kwargs["denied_topics"])
            except (KeyError, TypeError) as exc:
                raise SafetyConfigError(f"denied_topics: each needs a name and patterns ({exc})") from exc
        if "word_filters" in kwargs:
            kwargs["word_filters"] = tuple(str(w) for w in kwargs["word_filters"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path: str | Path) -> SafetyConfig:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SafetyConfigError(f"cannot read safety configuration {path}: {exc}") from exc
        return cls.from_dict(raw)

    def with_(self, **changes) -> SafetyConfig:
        return replace(self, **changes)


@functools.lru_cache(maxsize=1)
def load_config() -> SafetyConfig:
    """The process-wide configuration: `$FLYWHEEL_SAFETY_CONFIG` if set, else the packaged defaults;
    `$FLYWHEEL_POLICY_VERSION`, if set, names the system policy."""
    config = SafetyConfig.from_json(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    version = os.environ.get(POLICY_VERSION_ENV)
    return config.with_(policy_version=version) if version else config
