"""The safety layer: moderation, prompt-attack detection, system policies, input and output checks.

Written once and called by the chat gateway and moderation Lambdas and by the data cleaner (as its
toxicity filter). Pure Python plus the standard library at import time: no torch, no network.

    from flywheel.safety import check_input, filter_output, moderate, detect_attack, apply_policy

    verdict = check_input(messages)            # InputVerdict: blocked, categories, attack, reason, policy_version
    if not verdict.blocked:
        answer = model(apply_policy(messages))  # the server's policy first; client system messages demoted
        out = filter_output(answer)             # OutputVerdict: text (masked or a refusal), flagged, policy

How well it decides is measured by `python benchmarks/safety.py` on the labelled set in `data/`.
"""

from flywheel.safety.attacks import AttackResult, detect_attack
from flywheel.safety.config import DeniedTopic, SafetyConfig, SafetyConfigError, load_config
from flywheel.safety.guard import InputVerdict, OutputVerdict, check_input, filter_output
from flywheel.safety.moderation import ModerationResult, moderate
from flywheel.safety.pii import PII_TYPES, PIIMatch, find_pii, mask_pii
from flywheel.safety.policy import PolicyError, SystemPolicy, active_policy, apply_policy
from flywheel.safety.taxonomy import CATEGORIES, LLAMA_GUARD_3, LLAMA_GUARD_3_HAZARDS, llama_guard_codes

__all__ = [
    "CATEGORIES",
    "LLAMA_GUARD_3",
    "LLAMA_GUARD_3_HAZARDS",
    "PII_TYPES",
    "AttackResult",
    "DeniedTopic",
    "InputVerdict",
    "ModerationResult",
    "OutputVerdict",
    "PIIMatch",
    "PolicyError",
    "SafetyConfig",
    "SafetyConfigError",
    "SystemPolicy",
    "active_policy",
    "apply_policy",
    "check_input",
    "detect_attack",
    "filter_output",
    "find_pii",
    "llama_guard_codes",
    "load_config",
    "mask_pii",
    "moderate",
]

