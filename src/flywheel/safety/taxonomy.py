"""The moderation taxonomy: OpenAI's moderation categories and their Llama Guard 3 hazard codes.

OpenAI's `omni-moderation` names thirteen categories, some of them sub-categories of another
(`hate/threatening` is a kind of `hate`). Llama Guard 3 names fourteen hazards S1–S14 that cut the
same space differently; `LLAMA_GUARD_3` says which hazards each OpenAI category falls under, so a
verdict can be reported in either vocabulary. Llama Guard has no harassment hazard of its own:
threats land in S1 (violent crimes), demeaning abuse of a person in S10 (hate) when it targets a
protected trait; we map plain harassment to S10 as its nearest neighbour and say so here.

This module is data only: it knows nothing of how a score is computed.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# A sub-category's score lifts its parent's: a threat of hate is also hate (OpenAI reports it so).
PARENT: dict[str, str] = {c: c.split("/")[0] for c in CATEGORIES if "/" in c}

LLAMA_GUARD_3_HAZARDS: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}

LLAMA_GUARD_3: dict[str, tuple[str, ...]] = {
    "harassment": ("S10",),
    "harassment/threatening": ("S1", "S10"),
    "hate": ("S10",),
    "hate/threatening": ("S10", "S1"),
    "illicit": ("S2",),
    "illicit/violent": ("S1", "S9"),
    "self-harm": ("S11",),
    "self-harm/intent": ("S11",),
    "self-harm/instructions": ("S11",),
    "sexual": ("S12",),
    "sexual/minors": ("S4",),
    "violence": ("S1",),
    "violence/graphic": ("S1",),
}


def llama_guard_codes(categories: list[str] | tuple[str, ...]) -> list[str]:
    """The Llama Guard 3 hazard codes (sorted S1..S14) covering these OpenAI categories."""
    codes = {code for c in categories for code in LLAMA_GUARD_3.get(c, ())}
    return sorted(codes, key=lambda s: int(s[1:]))
