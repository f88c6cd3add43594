"""The tokenizer: byte-level BPE trained with `tokenizers`, plus the one chat template.

Training and serving both render chats through `ChatTokenizer.encode_chat`, so a model never sees a
prompt format at serving time that it did not see in training. The template, in tokens:

    <|system|> policy <|end|> <|user|> question <|end|> <|assistant|> answer <|end|>

Special tokens are single ids that text can never produce: a user typing "<|system|>" gets the bytes
of that string, not the token (`encode` never parses specials out of plain text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"
SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (EOT, SYSTEM, USER, ASSISTANT, END, PAD)
ROLES = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE on `texts`; ids 0..5 are the special tokens, then the 256 bytes."""
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size {vocab_size} is below the {len(SPECIAL_TOKENS) + 256} ids "
                         "that special tokens and bytes need")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


@dataclass
class ChatTokenizer:
    """A trained `tokenizers.Tokenizer` with the chat template and the ids the model needs."""

    tokenizer: Tokenizer

    def __post_init__(self) -> None:
        missing = [t for t in SPECIAL_TOKENS if self.tokenizer.token_to_id(t) is None]
        if missing:
            raise ValueError(f"tokenizer lacks the special tokens {missing}")
        self.ids = {t: self.tokenizer.token_to_id(t) for t in SPECIAL_TOKENS}
        self.eot_id, self.end_id, self.pad_id = self.ids[EOT], self.ids[END], self.ids[PAD]
        self.stop_ids = frozenset({self.eot_id, self.end_id})
        # Text never turns into special tokens: a user who types "<|system|>" gets its bytes, so no
        # message can forge a role. The template inserts specials by id instead.
        self.tokenizer.encode_special_tokens = True

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> ChatTokenizer:
        return cls(train_tokenizer(texts, vocab_size))

    @classmethod
    def from_file(cls, path: str | Path) -> ChatTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    @classmethod
    def from_str(cls, text: str) -> ChatTokenizer:
        return cls(Tokenizer.from_str(text))

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids if text else []

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def encode_chat(self, messages: Sequence[dict], add_generation_prompt: bool = False
                    ) -> tuple[list[int], list[int]]:
        """Render `messages` ([{role, content}]) as ids and a mask that is 1 on assistant tokens.

        The mask covers each assistant message's content and its closing `<|end|>` (so the model
        learns to stop), never the role tokens or other turns: supervised fine-tuning puts its loss
        there alone.
        """
        ids: list[int] = []
        mask: list[int] = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise ValueError(f"message {i} is not an object")  # noqa: TRY004 - callers map ValueError to a 400
            role, content = message.get("role"), message.get("content")
            if role not in ROLES:
                raise ValueError(f"message {i} has role {role!r}; expected one of {sorted(ROLES)}")
            if not isinstance(content, str):
                raise ValueError(f"message {i} content must be a string")  # noqa: TRY004 - as above
            body = self.encode(content) + [self.end_id]
            ids += [self.ids[ROLES[role]]] + body
            mask += [0] + [int(role == "assistant")] * len(body)
        if add_generation_prompt:
            ids.append(self.ids[ASSISTANT])
            mask.append(0)
        return ids, mask
