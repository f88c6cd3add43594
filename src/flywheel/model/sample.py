"""Sample from a model artifact: the simplest generation loop, one sequence, with the KV cache.

The serving engine (flywheel.serving) is what answers traffic; this is for a quick look at a trained
model from the command line and for the demo's "what did it learn" line.

    flywheel sample runs/demo/model --prompt "Return a" --max-tokens 40
    flywheel sample runs/demo/model --chat "What does sorted() return?"
"""

from __future__ import annotations

import argparse

import torch

from flywheel.model.artifact import Artifact, load_artifact
from flywheel.model.gpt import KVCache


@torch.inference_mode()
def generate(artifact: Artifact, prompt_ids: list[int], max_tokens: int = 64, temperature: float = 0.0,
             top_k: int | None = None, seed: int = 0) -> list[int]:
    """Greedy (temperature 0) or sampled continuation of `prompt_ids`, stopping at a stop token."""
    model, config = artifact.model, artifact.config
    if not prompt_ids:
        raise ValueError("the prompt is empty")
    if len(prompt_ids) >= config.block_size:
        raise ValueError(f"prompt of {len(prompt_ids)} tokens leaves no room in block_size {config.block_size}")
    max_tokens = min(max_tokens, config.block_size - len(prompt_ids))
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    cache = KVCache.allocate(config, n_slots=1, device=device)
    slot = torch.zeros(1, dtype=torch.long, device=device)
    idx = torch.tensor([prompt_ids], device=device)
    positions = torch.arange(len(prompt_ids), device=device)[None]
    out: list[int] = []
    for _ in range(max_tokens):
        logits = model(idx, positions=positions, cache=cache, slots=slot)[0, -1].float()  # (V,)
        logits[artifact.tokenizer.pad_id] = float("-inf")
        if temperature <= 0:
            token = int(logits.argmax())
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
                logits[logits < kth] = float("-inf")
            token = int(torch.multinomial(torch.softmax(logits, -1).cpu(), 1, generator=generator))
        if token in artifact.tokenizer.stop_ids:
            break
        out.append(token)
        idx = torch.tensor([[token]], device=device)
        positions = positions[:, -1:] + 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flywheel sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="an artifact directory (config.json, model.safetensors, tokenizer.json)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--prompt", help="plain text to continue")
    group.add_argument("--chat", help="a user message, rendered with the chat template")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    artifact = load_artifact(args.model_dir)
    tok = artifact.tokenizer
    if args.chat is not None:
        ids, _ = tok.encode_chat([{"role": "user", "content": args.chat}], add_generation_prompt=True)
    else:
        ids = tok.encode(args.prompt)
    out = generate(artifact, ids, args.max_tokens, args.temperature, args.top_k, args.seed)
    print((args.prompt or "") + tok.decode(out))
    return 0
