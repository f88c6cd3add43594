"""PII rules, one at a time: what each masks, and the look-alikes it must leave alone."""

from __future__ import annotations

import itertools

import pytest

from flywheel.safety.pii import PII_TYPES, find_pii, mask_pii


@pytest.mark.parametrize("text, kind", [
    ("write to jane.doe+news@mail.example.co.uk today", "EMAIL"),
    ("call (555) 123-4567 now", "PHONE"),
    ("call +1 555 123 4567 now", "PHONE"),
    ("ring +44 20 7946 0958 please", "PHONE"),
    ("card 4111 1111 1111 1111 ok", "CREDIT_CARD"),
    ("card 5500-0000-0000-0004 ok", "CREDIT_CARD"),
    ("server 10.0.12.254 is down", "IP_ADDRESS"),
    ("server 2001:db8:85a3::8a2e:370:7334 is down", "IP_ADDRESS"),
    ("key AKIAIOSFODNN7EXAMPLE leaked", "AWS_KEY"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_KEY"),
    ("google AIza" + "B" * 35 + " key", "CLOUD_KEY"),
    ("token ghp_" + "a1" * 18 + " here", "CLOUD_KEY"),
    ("ssn 123-45-6789 on file", "US_SSN"),
    ("nino AB 12 34 56 C on file", "UK_NINO"),
    ("pay GB82 WEST 1234 5698 7654 32 now", "IBAN"),
])
def test_each_type_is_found_and_masked(text, kind):
    masked, counts = mask_pii(text)
    assert counts == {kind: 1}, (text, counts)
    assert f"<{kind}>" in masked
    match = find_pii(text)[0]
    assert match.type == kind and text[match.start:match.end] == match.value
    assert match.value not in masked


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 fails the Luhn check",
    "version 3.11.7 and 1.2.3.4.5 are not addresses",
    "999.1.1.1 has an octet over 255",
    "ssn 000-12-3456 and 666-12-3456 are never issued",
    "the meeting is on 2026-11-27 at 12:30 in room 1234567",
    "iban GB00 WEST 1234 5698 7654 32 has bad check digits",
    "an email needs a domain: user@localhost",
    "plain prose with no secrets at all",
])
def test_look_alikes_are_left_alone(text):
    assert mask_pii(text) == (text, {})


def test_counts_every_occurrence_and_keeps_the_rest_of_the_text():
    text = "a@b.io, c@d.io and 192.168.0.1 — nothing else"
    masked, counts = mask_pii(text)
    assert masked == "<EMAIL>, <EMAIL> and <IP_ADDRESS> — nothing else"
    assert counts == {"EMAIL": 2, "IP_ADDRESS": 1}


def test_matches_never_overlap_and_types_are_declared():
    text = "mail bob@10.0.0.1.example.com card 4111111111111111 ip 8.8.8.8 phone 555-123-4567"
    matches = find_pii(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))
    assert {m.type for m in matches} <= set(PII_TYPES)


def test_empty_text():
    assert mask_pii("") == ("", {})
