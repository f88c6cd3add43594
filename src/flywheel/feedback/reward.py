"""The reward model: the GPT body with a scalar head, trained with the Bradley–Terry loss.

    r(x, y) = w · h_last + b       h_last = GPT.hidden_states at the sequence's last real token (C,)
    loss    = -log σ(r(x, y_w) - r(x, y_l))       averaged over pairs

Padding sits to the right and attention is causal, so the last real token's state never sees a pad.
The reward model is saved as an ordinary model artifact (the body, loadable and servable like any
other) plus `reward_head.safetensors`, named in config.json under `reward_head`; the head file is written
before config.json, so an artifact whose config names a head has it.

Single-device maths: the training job owns the loop; the evaluation uses `score` to judge answers.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from flywheel.feedback.batching import PairBatch, collate_sequences, encode_completion
from flywheel.model.artifact import ArtifactError, load_artifact, save_artifact
from flywheel.model.gpt import GPT
from flywheel.model.tokenizer import ChatTokenizer

HEAD_FILE = "reward_head.safetensors"


class RewardModel(nn.Module):
    def __init__(self, body: GPT):
        super().__init__()
        self.body = body
        self.head = nn.Linear(body.config.n_embd, 1)
        nn.init.normal_(self.head.weight, std=1.0 / (body.config.n_embd + 1) ** 0.5)
        nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Scalar rewards (B,) for tokens (B, T) read at positions `last` (B,)."""
        h = self.body.hidden_states(tokens)  # (B, T, C)
        h_last = h[torch.arange(tokens.shape[0], device=tokens.device), last]  # (B, C)
        return self.head(h_last).squeeze(-1).float()

    def pair_rewards(self, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
        rewards = self(batch.tokens, batch.last)  # (2B,)
        return rewards[:batch.n_pairs], rewards[batch.n_pairs:]


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """-log σ(r_w - r_l), averaged: the negative log-likelihood of the observed preferences."""
    return -F.logsigmoid(chosen - rejected).mean()


@torch.no_grad()
def score(model: RewardModel, tokenizer: ChatTokenizer, prompts: list, answers: list,
          batch_size: int = 32) -> list[float]:
    """Rewards of answers[i] to prompts[i] (each prompt a message list or a string)."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    max_len = model.body.config.block_size
    for start in range(0, len(prompts), batch_size):
        rows = [encode_completion(tokenizer, p, a, max_len)
                for p, a in zip(prompts[start:start + batch_size], answers[start:start + batch_size])]
        batch = collate_sequences(rows, tokenizer.pad_id).to(device)
        out += model(batch.tokens, batch.last).tolist()
    return out


def save_reward_model(directory: str | Path, model: RewardModel, tokenizer: ChatTokenizer, *, version: str,
                      data_version: str | None = None, metrics: dict | None = None, **extra) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    head = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
    save_file(head, str(directory / HEAD_FILE))
    return save_artifact(directory, model.body, tokenizer, version=version, data_version=data_version,
                         metrics=metrics, objective="reward", reward_head=HEAD_FILE, **extra)


def load_reward_model(directory: str | Path, device: str | torch.device = "cpu"
                      ) -> tuple[RewardModel, ChatTokenizer, dict]:
    directory = Path(directory)
    artifact = load_artifact(directory, device)
    head_file = artifact.meta.get("reward_head")
    if not head_file:
        raise ArtifactError(f"{directory} is a language model, not a reward model (no reward_head)")
    model = RewardModel(artifact.model)
    try:
        model.head.load_state_dict(load_file(str(directory / head_file)))
    except Exception as exc:  # noqa: BLE001 -- safetensors raises its own type on a missing or corrupt file
        raise ArtifactError(f"{directory}: unreadable reward head: {exc}") from None
    return model.to(device).eval(), artifact.tokenizer, artifact.meta
