"""One optimizer step and one validation pass: the arithmetic of the training loop.

The loss is a sum over target tokens divided by the number of non-ignored targets in the whole global
batch (all micro-steps, all ranks), so SFT batches whose windows hold different numbers of assistant
tokens weigh each token equally, and gradient accumulation and data parallelism change nothing but
speed. DDP averages gradients over ranks, so each rank scales its sum by world_size / global_count.

No I/O, logging or checkpointing here; `job.py` does those around these functions.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from flywheel.model.gpt import IGNORE_INDEX
from flywheel.training.distributed import Dist, all_reduce


def token_loss_sum(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy over targets that are not IGNORE_INDEX; x, y are (B, T)."""
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full fp32 on CPU (where bf16 matmuls are not faster on most cores)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler, batches, step: int,
               grad_accum: int, grad_clip: float, d: Dist) -> dict:
    """Run `grad_accum` micro-steps and one optimizer step; returns the global mean loss and token count."""
    micro = [batches.get(step, m) for m in range(grad_accum)]
    # Count the loss-bearing targets of the global batch before any forward pass: it is the divisor.
    count = torch.tensor([float(sum(int((y != IGNORE_INDEX).sum()) for _, y in micro))], device=d.device)
    all_reduce(count, d)
    global_count = max(float(count.item()), 1.0)
    loss_total = torch.zeros(1, device=d.device)
    for m, (x, y) in enumerate(micro):
        # DDP all-reduces gradients on every backward unless told not to: only the last micro-step syncs.
        last = m == grad_accum - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(d.device):
                loss_sum = token_loss_sum(model, x, y)
            (loss_sum * (d.world_size / global_count)).backward()
        loss_total += loss_sum.detach()
    grad_norm = None
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    all_reduce(loss_total, d)
    return {
        "train_loss": float(loss_total.item()) / global_count,
        "tokens": sum(x.numel() for x, _ in micro) * d.world_size,
        "grad_norm": None if grad_norm is None else float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor")
                                                          else grad_norm),
    }


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches, d: Dist) -> float:
    """Mean loss over every loss-bearing target of the validation windows, across all ranks."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(2, device=d.device, dtype=torch.float64)  # (loss sum, target count)
    for x, y in batches:
        with autocast(d.device):
            totals[0] += token_loss_sum(model, x, y).double()
        totals[1] += (y != IGNORE_INDEX).sum()
    all_reduce(totals, d)
    model.train(was_training)
    return float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")
