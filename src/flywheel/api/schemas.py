"""Request bodies of the public API as pydantic models, in OpenAI's shapes (plus `/v1/feedback`).

Validation is strict where a wrong type is a caller's bug (no booleans for numbers, no unknown
fields: OpenAI itself rejects unrecognised arguments), and every limit is stated so a request is
either served as asked or refused with the reason. Only text content is supported; an image part is
refused by name rather than silently dropped.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

MAX_TEXT = 32_000          # characters of one message or moderation input
MAX_MESSAGES = 64
MAX_MODERATION_INPUTS = 32
MAX_CHOICES = 8            # n
MAX_NEW_TOKENS = 4096

Number = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    # defer_build: a function validates only its own bodies; the others are never built in it.
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_TEXT, defer_build=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(default=None, max_length=64)

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Strict):
    include_usage: StrictBool = False


class ChatCompletionRequest(_Strict):
    model: str = Field(min_length=1, max_length=128)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: StrictInt | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    temperature: Number = Field(default=1.0, ge=0.0, le=2.0)
    top_p: Number = Field(default=1.0, gt=0.0, le=1.0)
    # Not OpenAI's, but vLLM's and TGI's: 0 means off.
    top_k: StrictInt = Field(default=0, ge=0, le=1000)
    n: StrictInt = Field(default=1, ge=1, le=MAX_CHOICES)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: str | list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    seed: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)
    user: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _check(self) -> ChatCompletionRequest:
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError("stop: at most 4 sequences")
        if isinstance(self.stop, str) and not self.stop:
            raise ValueError("stop: an empty stop sequence would end every answer at once")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: only allowed when stream is true")
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages: at least one message must have role 'user'")
        return self

    @property
    def new_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ModerationRequest(_Strict):
    input: str | list[str] | list[TextPart] = Field(min_length=1)
    model: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _check(self) -> ModerationRequest:
        if isinstance(self.input, list) and len(self.input) > MAX_MODERATION_INPUTS:
            raise ValueError(f"input: at most {MAX_MODERATION_INPUTS} items")
        return self

    @property
    def texts(self) -> list[str]:
        if isinstance(self.input, str):
            return [self.input]
        return [item.text if isinstance(item, TextPart) else item for item in self.input]


class FeedbackRequest(_Strict):
    """Feedback on one completion: exactly one of thumbs, rating, preferred_choice or correction.

    The field names are the lake's feedback columns (`flywheel.feedback.preferences` reads them).
    """

    completion_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    thumbs: Literal["up", "down"] | None = None
    rating: StrictInt | None = Field(default=None, ge=1, le=5)
    preferred_choice: StrictInt | None = Field(default=None, ge=0, le=MAX_CHOICES - 1)
    correction: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    # Which choice of an n >= 2 completion thumbs, rating or correction is about (0 when absent).
    choice_index: StrictInt | None = Field(default=None, ge=0, le=MAX_CHOICES - 1)

    KINDS: ClassVar[tuple[str, ...]] = ("thumbs", "rating", "preferred_choice", "correction")

    @model_validator(mode="after")
    def _exactly_one(self) -> FeedbackRequest:
        given = [kind for kind in self.KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(self.KINDS)}; got "
                             f"{', '.join(given) if given else 'none'}")
        if self.choice_index is not None and self.preferred_choice is not None:
            raise ValueError("choice_index: not allowed with preferred_choice, which names a choice itself")
        if self.correction is not None and not self.correction.strip():
            raise ValueError("correction: must contain some text")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in self.KINDS if getattr(self, kind) is not None)

    @property
    def value(self) -> str | int:
        return getattr(self, self.kind)
