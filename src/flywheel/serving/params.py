"""The invocation body: parsed and checked once, before anything reaches the engine.

    {"messages": [{"role": "user", "content": "..."}]  or  "prompt": "...",
     "max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "stop": ["\\n\\n"],
     "seed": 0, "n": 1, "stream": false, "timeout_s": 60}

Everything malformed or out of range raises `BadRequest` with the reason. Knows no torch and no HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flywheel.serving.errors import BadRequest

MAX_STOP_STRINGS = 4
MAX_STOP_CHARS = 64
KNOWN_FIELDS = {"messages", "prompt", "max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n",
                "stream", "timeout_s"}


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[dict, ...] | None = None
    prompt: str | None = None
    max_tokens: int = 64
    temperature: float = 0.0  # 0 is greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 keeps every token
    stop: tuple[str, ...] = ()
    seed: int = 0
    n: int = 1
    stream: bool = False
    timeout_s: float | None = None  # None: the server's default
    # Already-tokenized prompt, for in-process callers (benchmarks, evaluation); never read from JSON.
    prompt_ids: tuple[int, ...] | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def _int(body: dict, name: str, default: int, lo: int, hi: int | None = None) -> int:
    value = body.get(name)
    if value is None:  # absent or null (OpenAI clients send null for "unset")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        raise BadRequest(f"{name} must be in [{lo}, {hi if hi is not None else 'inf'}], got {value}")
    return value


def _float(body: dict, name: str, default: float, lo: float, hi: float, lo_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (lo < value if lo_open else lo <= value) or not value <= hi:
        raise BadRequest(f"{name} must be in {'(' if lo_open else '['}{lo}, {hi}], got {value}")
    return value


def parse_request(body: bytes | str | dict, *, max_n: int = 8, max_tokens_limit: int = 4096
                  ) -> GenerationRequest:
    """Parse a JSON invocation body; raises BadRequest with the reason."""
    if not isinstance(body, dict):
        try:
            body = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = set(body) - KNOWN_FIELDS
    if unknown:
        raise BadRequest(f"unknown fields {sorted(unknown)}; known: {sorted(KNOWN_FIELDS)}")
    messages, prompt = body.get("messages"), body.get("prompt")
    if (messages is None) == (prompt is None):
        raise BadRequest("give exactly one of `messages` or `prompt`")
    if messages is not None:
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages must be a non-empty list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or set(m) - {"role", "content", "name"}:
                raise BadRequest(f"message {i} must be an object with role and content")
            if m.get("role") not in ("system", "user", "assistant"):
                raise BadRequest(f"message {i} has role {m.get('role')!r}; use system, user or assistant")
            if not isinstance(m.get("content"), str):
                raise BadRequest(f"message {i} content must be a string")
        messages = tuple({"role": m["role"], "content": m["content"]} for m in messages)
    elif not isinstance(prompt, str) or not prompt:
        raise BadRequest("prompt must be a non-empty string")
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > MAX_STOP_STRINGS or not all(
            isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in stop):
        raise BadRequest(f"stop must be a string or a list of up to {MAX_STOP_STRINGS} non-empty strings "
                         f"of at most {MAX_STOP_CHARS} characters")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise BadRequest(f"stream must be true or false, got {stream!r}")
    timeout = body.get("timeout_s")
    return GenerationRequest(
        messages=messages,
        prompt=prompt,
        max_tokens=_int(body, "max_tokens", 64, 1, max_tokens_limit),
        temperature=_float(body, "temperature", 0.0, 0.0, 2.0),
        top_p=_float(body, "top_p", 1.0, 0.0, 1.0, lo_open=True),
        top_k=_int(body, "top_k", 0, 0),
        stop=tuple(stop),
        seed=_int(body, "seed", 0, 0, 2**63 - 1),
        n=_int(body, "n", 1, 1, max_n),
        stream=stream,
        timeout_s=None if timeout is None else _float(body, "timeout_s", 0.0, 0.0, 3600.0, lo_open=True),
    )
