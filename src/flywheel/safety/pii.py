"""PII detection and masking: one module for the data cleaner, the chat gateway and the output filter.

Stable API (other layers import exactly these names):

    find_pii(text) -> list[PIIMatch]          # (type, start, end, value), sorted, non-overlapping
    mask_pii(text) -> (masked_text, counts)   # counts: {type: n}, only types that occurred
    PII_TYPES                                 # every type name find_pii can report

Each occurrence is replaced by a placeholder naming its type, e.g. `<EMAIL>`, `<CREDIT_CARD>`, so a
model trained on masked text learns the shape of a sentence without its secrets, and a reader of a
masked answer can tell what was removed. Types:

    EMAIL         local@domain.tld
    PHONE         NANP (+1 555-123-4567, (555) 123 4567) and E.164-style international (+44 20 7946 0958)
    CREDIT_CARD   13-19 digits, spaces or hyphens between groups, valid under the Luhn check
    IP_ADDRESS    dotted IPv4 (each octet <= 255) and IPv6 (validated by `ipaddress`)
    AWS_KEY       access key ids (AKIA/ASIA + 16) and `aws_secret_access_key = <40 chars>` assignments
    CLOUD_KEY     Google API keys (AIza + 35), GitHub tokens (ghp_/gho_/ghs_/ghu_/ghr_ + 36)
    US_SSN        123-45-6789 (area not 000/666/9xx, group not 00, serial not 0000)
    UK_NINO       AB 12 34 56 C (the prefixes HMRC never issues excluded)
    IBAN          country code, check digits, BBAN; valid under the ISO 13616 mod-97 check

Checksums (Luhn, mod-97) keep ordinary long numbers (order ids, timestamps) from being masked.
What it does not know: names and street addresses (that needs an NER model; the rules here are
deterministic and fast enough to run on every document and every chat turn). Pure standard library.

    >>> mask_pii("mail bob@example.com or call (555) 123-4567")
    ('mail <EMAIL> or call <PHONE>', {'EMAIL': 1, 'PHONE': 1})
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import NamedTuple

PII_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IP_ADDRESS", "AWS_KEY", "CLOUD_KEY", "US_SSN", "UK_NINO",
             "IBAN")


class PIIMatch(NamedTuple):
    type: str
    start: int
    end: int
    value: str


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _ipv6_ok(value: str) -> bool:
    # At least 5 hex digits: "a::b" or "d::" in prose or code is not worth masking, "fe80::1" is.
    if sum(c not in ":" for c in value) < 5:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _card_ok(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


# Order matters where patterns can overlap: earlier types win (a card number is not a phone number).
# (type, compiled pattern, validator or None, capture group holding the secret: 0 = whole match)
_RULES: list[tuple[str, re.Pattern, object, int]] = [
    ("EMAIL", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b"),
     None, 0),
    ("AWS_KEY", re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"), None, 0),
    ("AWS_KEY", re.compile(r"(?i)aws_?secret_?access_?key\s*[=:]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"),
     None, 1),
    ("CLOUD_KEY", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"), None, 0),
    ("CLOUD_KEY", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"), None, 0),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _iban_ok, 0),
    ("CREDIT_CARD", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _card_ok, 0),
    ("US_SSN", re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), None, 0),
    ("UK_NINO", re.compile(r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
     None, 0),
    ("IP_ADDRESS", re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                              r"(?![\d.]*\d)"), None, 0),
    ("IP_ADDRESS", re.compile(r"(?<![\w:])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:])"),
     _ipv6_ok, 0),
    ("PHONE", re.compile(r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}(?!\d)"), None, 0),
    ("PHONE", re.compile(r"(?<![\w+])\+(?:[2-9]\d{0,2})(?:[ .-]?\d{1,4}){2,5}(?!\d)"),
     lambda v: 8 <= sum(c.isdigit() for c in v) <= 15, 0),
]


def find_pii(text: str) -> list[PIIMatch]:
    """Every PII occurrence in `text`, sorted by position; overlaps resolved in favour of earlier rules."""
    if not text:
        return []
    found: list[PIIMatch] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern, validate, group in _RULES:
        for m in pattern.finditer(text):
            start, end = m.span(group)
            value = m.group(group)
            if validate is not None and not validate(value):
                continue
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found.append(PIIMatch(kind, start, end, value))
    found.sort(key=lambda m: m.start)
    return found


def mask_pii(text: str) -> tuple[str, dict[str, int]]:
    """`text` with each PII occurrence replaced by `<TYPE>`, and how many of each type were replaced."""
    matches = find_pii(text)
    if not matches:
        return text, {}
    parts, last = [], 0
    for m in matches:
        parts += [text[last:m.start], f"<{m.type}>"]
        last = m.end
    parts.append(text[last:])
    return "".join(parts), dict(Counter(m.type for m in matches))
