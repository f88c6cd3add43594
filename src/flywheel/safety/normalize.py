"""Text normalisation and decoding: the views of a text that the rules and classifier look at.

Attackers hide a request from keyword rules by spelling it differently. `views(text)` returns the text
as it is (NFKC-folded, lower-cased, zero-width and control characters dropped, whitespace collapsed)
and, when they differ from it, the versions an evader would have us miss:

- leetspeak folded back (`h0w t0 m4k3 4 b0mb` -> `how to make a bomb`), and letters spread out with
  spaces or dots joined up (`b o m b`, `b.o.m.b`);
- encoded payloads decoded: base64, hex, 8-bit binary, URL %-escapes; and the whole text under ROT13
  or reversed when the text itself reads as gibberish but the transform reads as English.

The plain view also spells out chat shorthand that would otherwise slip past a keyword rule ("u r",
"ur", "ppl", "some1", "how 2", "4 a friend", "kms", "unalive"): only forms with one reading, and
digits only where a word on either side makes "to" or "for" the sole reading.

Each view carries how it was obtained (`"plain"`, `"leet"`, `"base64"`, ...), so a caller can tell an
encoded payload from a plain one. Nothing here judges the content. Pure standard library.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from typing import NamedTuple

MAX_CHARS = 20_000  # longer texts are judged on their first MAX_CHARS characters (and their tail)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
# Cyrillic and Greek letters that look like Latin ones, used to dodge keyword filters.
_HOMOGLYPHS = str.maketrans("асеорхуікмтнвѕјԁաɡοαειτυνкѵ", "aceopxyikmthbsjdwgoaeitvvkv")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
                       "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e"})
_WS = re.compile(r"\s+")
_MIXED_WORD = re.compile(r"[^\W\d_]*[a-z][^\W\d_]*")  # a word of letters with at least one Latin letter in it
_LETTERS = re.compile(r"[^\W\d_]+")  # a word of letters, any script
_LEET_SHAPE = re.compile(r"[a-z][0-9@$!|+€]+[a-z]|^[0-9@$!|+€](?!(?:st|nd|rd|th)\b)[a-z]{2,}")
_LEET_WORD = re.compile(r"\b(?=[\w@$!|+€]*[a-z])(?=[\w@$!|+€]*[0-9@$!|+€])[\w@$!|+€]{2,}")
# Letters spread out: "b.o.m.b", "b-o-m-b", or "b o m b" (one space inside a word, more between words).
_SPREAD = re.compile(r"\b[a-z](?:[.\-_*][a-z])+\b|\b[a-z](?: [a-z]){2,}\b")
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_B64URL = re.compile(r"(?<![A-Za-z0-9_\-=])[A-Za-z0-9_\-]{16,}={0,2}(?![A-Za-z0-9_\-=])")
_HEX = re.compile(r"(?:\b(?:0x)?[0-9a-fA-F]{2}[\s:,]?){8,}")
_BIN = re.compile(r"(?:\b[01]{8}\b\s?){4,}")
_PCT = re.compile(r"(?:%[0-9a-fA-F]{2}){4,}")
_WORD = re.compile(r"[a-z']+")
# The most frequent English words: a text made of words is English if enough of them are here.
_COMMON = frozenset(
    ["the", "be", "to", "of", "and", "a", "in", "that", "have", "i", "it", "for", "not", "on", "with", "he", "as", "you", "do", "at", "this", "but", "his", "by", "from", "they", "we", "say", "her", "she", "or", "an", "will", "my", "one", "all", "would", "there", "their", "what", "so", "up", "out", "if", "about", "who", "get", "which", "go", "me", "when", "make", "can", "like", "time", "no", "just", "him", "know", "take", "people", "into", "year", "your", "good", "some", "could", "them", "see", "other", "than", "then", "now", "look", "only", "come", "its", "over", "think", "also", "back", "after", "use", "two", "how", "our", "work", "first", "well", "way", "even", "new", "want", "because", "any", "these", "give", "day", "most", "us", "is", "are", "was", "were", "has", "had", "how", "tell", "write", "me", "please", "kill", "make", "bomb", "help", "need", "someone", "should"])


class View(NamedTuple):
    how: str   # "plain", "leet", "spread", "base64", "hex", "binary", "url", "rot13", "reversed"
    text: str  # normalised (lower-case) text of this view


_SHORTHAND = {"u": "you", "ur": "your", "ppl": "people", "some1": "someone", "any1": "anyone", "every1": "everyone",
              "pls": "please", "plz": "please", "im": "i'm", "dont": "don't", "cant": "can't", "wont": "won't",
              "wanna": "want to", "gonna": "going to", "gotta": "got to", "kms": "kill myself", "kys": "kill yourself",
              "unalive": "kill", "unaliving": "killing", "smth": "something", "sth": "something", "rly": "really",
              "cuz": "because", "bc": "because", "thx": "thanks", "ty": "thank you", "abt": "about", "tho": "though",
              "wat": "what", "wut": "what", "ne1": "anyone", "yall": "you all", "myslef": "myself"}
_SHORT_RE = re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, _SHORTHAND)) + r")(?![\w'])")
# "r" is "are" only between a pronoun or plural and a word; "2"/"4" only between words that make them "to"/"for".
_ARE_RE = re.compile(r"\b(you|they|we|people|these|those|who|u) r (?=[a-z])")
_TO_RE = re.compile(r"\b(how|want|need|going|trying|able|wish|try|allowed|used|got|plan|planning|ready|way|ways|"
                    r"tips|where|what|supposed|have to|want me|how do i|how can i|talk|speak|go|come|listen|reply|respond|explain|say|talking) 2 (?=[a-z])")
_FOR_RE = re.compile(r"\b4 (?=(?:a|an|the|my|me|you|your|him|her|them|us|real|free|sure|good|now|this|that|ever)\b)")


def _spell_out(text: str) -> str:
    text = _SHORT_RE.sub(lambda m: _SHORTHAND[m.group(1)], text)
    text = _ARE_RE.sub(lambda m: f"{m.group(1)} are ", text)
    text = _TO_RE.sub(lambda m: f"{m.group(1)} to ", text)
    return _FOR_RE.sub("for ", text)


def unspoof(text: str) -> str:
    """Cyrillic and Greek look-alikes read as the Latin letters they imitate, where they imitate:
    everywhere in a text written mostly in Latin letters ("bоmb" with a Cyrillic о) or that turns
    into English words once read so ("таке а вомв", every letter a look-alike), and otherwise only
    inside the words that mix in a Latin letter, so that Russian or Greek keeps its own spelling
    ("убью" stays "убью", not "yбью") and its words keep sharing their stems."""
    if text.isascii():
        return text
    letters = [c for c in text if c.isalpha()]
    mapped = text.translate(_HOMOGLYPHS)
    if 2 * sum(c.isascii() for c in letters) >= len(letters):
        return mapped
    words = _LETTERS.findall(mapped)
    latin = [w for w in words if w.isascii()]
    if len(latin) >= 0.8 * len(words) and english_ratio(" ".join(latin)) >= 0.3:
        return mapped
    return _MIXED_WORD.sub(lambda m: m.group().translate(_HOMOGLYPHS), text)


def fold(text: str) -> str:
    """NFKC, lower case, look-alike letters to Latin (`unspoof`), zero-width characters gone,
    whitespace collapsed, shorthand spelt out."""
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 2000] + " " + text[-2000:]
    text = unspoof(unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).lower())
    return _spell_out(_WS.sub(" ", text).strip())


def english_ratio(text: str) -> float:
    """Share of a text's words that are among the most frequent English words (0 for no words)."""
    words = _WORD.findall(text)
    if not words:
        return 0.0
    return sum(w in _COMMON for w in words) / len(words)


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or sum(c.isprintable() or c.isspace() for c in text) < 0.95 * len(text):
        return None
    # A decoded blob must read as words, not as more binary noise.
    return text if re.search(r"[a-zA-Z]{3,}", text) else None


def _decode_b64(blob: str, urlsafe: bool) -> str | None:
    padded = blob + "=" * (-len(blob) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def decoded_payloads(text: str) -> list[View]:
    """Every base64 / hex / binary / %-escaped blob in `text` (original case) that decodes to text."""
    out: list[View] = []
    for m in _B64.finditer(text):
        # A long run of letters only is a word or an identifier, not base64.
        blob = m.group(0)
        if blob.isalpha() and (blob.islower() or blob.isupper()):
            continue
        decoded = _decode_b64(blob, urlsafe=False)
        if decoded:
            out.append(View("base64", fold(decoded)))
    if not out:
        for m in _B64URL.finditer(text):
            blob = m.group(0)
            if ("-" in blob or "_" in blob) and not blob.replace("-", "").replace("_", "").isalpha():
                decoded = _decode_b64(blob, urlsafe=True)
                if decoded:
                    out.append(View("base64", fold(decoded)))
    for m in _HEX.finditer(text):
        digits = re.sub(r"0x|[\s:,]", "", m.group(0))
        if len(digits) % 2 == 0:
            decoded = _printable(bytes.fromhex(digits))
            if decoded:
                out.append(View("hex", fold(decoded)))
    for m in _BIN.finditer(text):
        decoded = _printable(bytes(int(b, 2) for b in m.group(0).split()))
        if decoded:
            out.append(View("binary", fold(decoded)))
    for m in _PCT.finditer(text):
        out.append(View("url", fold(urllib.parse.unquote(m.group(0)))))
    return out


def _join_spread(text: str) -> str:
    """Join letters spread out to dodge filters; runs of 2+ spaces (or a lone letter's word) separate words."""
    folded = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).lower()
    words = []
    for chunk in re.split(r"\s{2,}", folded):
        if re.fullmatch(r"[a-z](?: [a-z])+", chunk.strip()):
            words.append(chunk.replace(" ", ""))
        else:
            words.append(_SPREAD.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), chunk))
    return _WS.sub(" ", " ".join(words)).strip()


def views(text: str) -> list[View]:
    """The plain view first, then any other view that differs from it (see the module docstring)."""
    plain = fold(text)
    out = [View("plain", plain)]
    # Leetspeak puts a digit or symbol between letters ("b0mb", "k1ll") or opens a word with one
    # ("4ss", "$hit"); "1st", "mp3", "ar15" or a long encoded blob (decoded below) is not leet, and
    # reading it as leet would only cost a whole pass of the rules and the classifier.
    if any(len(m.group(0)) < 16 and _LEET_SHAPE.search(m.group(0)) for m in _LEET_WORD.finditer(plain)):
        # Once one word is in leetspeak, read lone digits as letters too ("m4k3 4 b0mb": the "4").
        leet = plain.translate(_LEET)
        if leet != plain:
            out.append(View("leet", leet))
    if _SPREAD.search(text.lower()):
        out.append(View("spread", _join_spread(text)))
    out += decoded_payloads(text if len(text) <= MAX_CHARS else plain)
    words = _WORD.findall(plain)
    if len(words) >= 3:
        ratio = english_ratio(plain)
        if ratio < 0.25:
            for how, transformed in (("rot13", codecs.encode(plain, "rot13")), ("reversed", plain[::-1])):
                if english_ratio(transformed) >= max(0.3, ratio + 0.15):
                    out.append(View(how, transformed))
    return out
