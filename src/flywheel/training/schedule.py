"""The optimizer and its learning-rate schedule: AdamW, linear warmup, cosine decay to a floor.

Weight decay applies to matrices (embeddings and linear weights) only, never to biases or norm gains,
as in GPT-2 / nanoGPT. The schedule is a picklable callable so `LambdaLR.state_dict()` carries it into
checkpoints. This module knows nothing of data or distribution.
"""

from __future__ import annotations

import math

import torch


def build_optimizer(model: torch.nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float],
                    device_type: str) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]  # tied weights appear once
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused kernel exists for CUDA; on CPU the default (foreach) implementation is the fast one.
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device_type == "cuda" or None)


class WarmupCosine:
    """Multiplier of the peak lr at optimizer step `step` (0-based)."""

    def __init__(self, warmup_steps: int, max_steps: int, min_ratio: float):
        self.warmup_steps, self.max_steps, self.min_ratio = warmup_steps, max_steps, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(self.max_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / span, 1.0)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, max_steps: int,
                    min_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, max_steps, min_ratio))
