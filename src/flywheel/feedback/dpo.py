"""Direct Preference Optimisation (Rafailov et al., 2023) with the champion as the frozen reference.

For a pair with prompt x, chosen y_w and rejected y_l, with log-probabilities summed over the answer's
tokens (`GPT.sequence_logprobs`) under the policy π and the frozen reference π_ref:

    h    = [log π(y_w|x) - log π_ref(y_w|x)] - [log π(y_l|x) - log π_ref(y_l|x)]
    loss = -(1 - ε) log σ(β h) - ε log σ(-β h)        (ε = label smoothing, 0 is plain DPO)

With `rpo_alpha` > 0 the loss adds α × the chosen answers' negative log-likelihood per token (RPO,
Pang et al. 2024; TRL's `rpo_alpha`): plain DPO may lower both answers' likelihood as long as the gap
grows, which on small models lowers the chosen answer's first tokens too and degrades greedy output; the
NLL term keeps the chosen answers likely.

The implicit rewards are r_w = β [log π(y_w|x) - log π_ref(y_w|x)] and r_l likewise; their margin
r_w - r_l = β h grows as the policy learns the preference, and "accuracy" is the share of pairs with
r_w > r_l. The reference never changes during a run, so its log-probabilities can be computed once per
pair up front (`reference_logprobs`) instead of once per step.

Single-device maths: the training job (`training_jobs/preference.py`) owns devices, DDP and the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from flywheel.feedback.batching import PairBatch
from flywheel.model.gpt import GPT


@dataclass
class DPOOutput:
    loss: torch.Tensor  # scalar, differentiable
    chosen_rewards: torch.Tensor  # (B,) β (log π - log π_ref) of the chosen answers, detached
    rejected_rewards: torch.Tensor  # (B,)

    def metrics(self) -> dict[str, float]:
        return preference_metrics(self.chosen_rewards, self.rejected_rewards) | {"loss": float(self.loss.detach())}


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1, label_smoothing: float = 0.0) -> DPOOutput:
    """The DPO loss from summed log-probabilities, each (B,); see the module docstring."""
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    chosen_logratio = policy_chosen - ref_chosen  # (B,)
    rejected_logratio = policy_rejected - ref_rejected
    h = chosen_logratio - rejected_logratio
    losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    return DPOOutput(losses.mean(), (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach())


def chosen_nll(policy_chosen: torch.Tensor, chosen_tokens: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per chosen-answer token: -Σ log π(y_w|x) / Σ |y_w| over the batch."""
    return -policy_chosen.sum() / chosen_tokens.sum().clamp_min(1)


def preference_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> dict[str, float]:
    """Mean implicit rewards, their margin, and the share of pairs ranked right (ties count half)."""
    margin = chosen_rewards - rejected_rewards
    accuracy = (margin > 0).float() + 0.5 * (margin == 0).float()
    return {"reward_chosen": float(chosen_rewards.mean()), "reward_rejected": float(rejected_rewards.mean()),
            "reward_margin": float(margin.mean()), "reward_accuracy": float(accuracy.mean())}


def pair_logprobs(model: GPT, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed answer log-probabilities (chosen (B,), rejected (B,)) in one forward over the 2B rows."""
    logps = model.sequence_logprobs(batch.inputs, batch.targets)  # (2B,)
    return logps[:batch.n_pairs], logps[batch.n_pairs:]


@torch.no_grad()
def reference_logprobs(reference: GPT, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen reference's log-probabilities; eval mode so dropout never perturbs them."""
    was_training = reference.training
    reference.eval()
    try:
        return pair_logprobs(reference, batch)
    finally:
        reference.train(was_training)


def dpo_batch_loss(policy: GPT, batch: PairBatch, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
                   beta: float = 0.1, label_smoothing: float = 0.0) -> DPOOutput:
    """The DPO loss of one batch for `policy`, given the reference's log-probabilities for it."""
    chosen, rejected = pair_logprobs(policy, batch)
    return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta, label_smoothing)
