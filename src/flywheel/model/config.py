"""The model's configuration: a frozen dataclass, saved beside the weights and rebuilt on load.

Presets name the sizes the project trains. `debug` trains on a CPU in seconds (tests, CI); `bench` is
the nanoGPT-comparable size the training and serving benchmarks use; `small` is what `make demo` trains.
Old artifacts are upgraded by `flywheel.model.artifact.migrate`, never guessed here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class GPTConfig:
    """A GPT-2-shaped decoder: learned positions, pre-norm LayerNorm blocks, tanh-GELU MLP, tied embeddings.

    The shape is GPT-2's exactly, so `transformers.GPT2Config` describes it and the weights export
    to the Hugging Face format without approximation.
    """

    vocab_size: int = 512
    block_size: int = 256  # longest sequence (positions) the model can see
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0
    bias: bool = True
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; an artifact migration is missing")
        return cls(**data)

    def num_params(self) -> int:
        """Parameter count with tied embeddings (the output layer shares the token embedding)."""
        c, v, t = self.n_embd, self.vocab_size, self.block_size
        b = 1 if self.bias else 0
        per_layer = 12 * c * c + 9 * c * b + 2 * c * (1 + b)  # attn + MLP matrices, their biases, 2 LNs
        return v * c + t * c + self.n_layer * per_layer + c * (1 + b)

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward), the PaLM appendix B estimate nanoGPT uses."""
        t = seq_len or self.block_size
        n = self.num_params() - self.block_size * self.n_embd  # position table does no matmul
        return 6 * n + 12 * self.n_layer * self.n_embd * t


PRESETS: dict[str, GPTConfig] = {
    # Trains on a CPU in seconds: tests and CI.
    "debug": GPTConfig(vocab_size=512, block_size=64, n_layer=2, n_head=2, n_embd=64),
    # What `make demo` trains: a few minutes on two cores.
    "small": GPTConfig(vocab_size=2048, block_size=256, n_layer=4, n_head=4, n_embd=128),
    # nanoGPT-comparable (NOTES.md baselines): 4 layers, 4 heads, width 256, context 256.
    "bench": GPTConfig(vocab_size=512, block_size=256, n_layer=4, n_head=4, n_embd=256),
    # A GPU-sized model for SageMaker runs.
    "base": GPTConfig(vocab_size=32768, block_size=1024, n_layer=12, n_head=12, n_embd=768),
}


def preset(name: str, **overrides) -> GPTConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides) if overrides else PRESETS[name]
