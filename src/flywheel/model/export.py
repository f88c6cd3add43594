"""Export an artifact to the Hugging Face `transformers` GPT-2 format.

Our GPT is GPT-2's shape exactly (learned positions, pre-norm LayerNorm, tanh-GELU, tied embeddings),
so `transformers.GPT2Config` describes it and standard GPU servers (vLLM, TGI, SageMaker LMI) can serve
the exported folder. GPT-2 in `transformers` stores its projections as `Conv1D`, whose weight is the
transpose of `nn.Linear`'s: those four matrices per block are transposed on the way out.

    flywheel export-hf MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from flywheel.model.artifact import Artifact
from flywheel.model.tokenizer import ASSISTANT, END, EOT, PAD

CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def gpt2_config(artifact: Artifact) -> dict:
    c = artifact.config
    tok = artifact.tokenizer
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": 4 * c.n_embd,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": c.layer_norm_eps,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": tok.eot_id,
        "eos_token_id": [tok.eot_id, tok.end_id],
        "pad_token_id": tok.pad_id,
        "torch_dtype": "float32",
        "flywheel_version": artifact.version,
    }


def hf_state_dict(artifact: Artifact) -> dict[str, torch.Tensor]:
    if not artifact.config.bias:
        raise ValueError("GPT-2 has biases everywhere; a bias-free model has no exact GPT-2 config")
    out = {}
    for name, tensor in artifact.model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to wte; GPT2LMHeadModel re-ties on load
        if name.endswith(CONV1D_SUFFIXES):
            tensor = tensor.t()
        out[name] = tensor.detach().to("cpu").contiguous()
    return out


def export_hf(artifact: Artifact, out_dir: str | Path) -> Path:
    """Write config.json, model.safetensors and the tokenizer files that `from_pretrained` reads."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(gpt2_config(artifact), indent=2))
    save_file(hf_state_dict(artifact), str(out / "model.safetensors"), metadata={"format": "pt"})
    artifact.tokenizer.save(out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOT, "eos_token": END, "pad_token": PAD, "unk_token": None,
        "model_max_length": artifact.config.block_size,
        "chat_template": CHAT_TEMPLATE_JINJA,
    }, indent=2))
    (out / "generation_config.json").write_text(json.dumps({
        "bos_token_id": artifact.tokenizer.eot_id,
        "eos_token_id": [artifact.tokenizer.eot_id, artifact.tokenizer.end_id],
        "pad_token_id": artifact.tokenizer.pad_id,
    }, indent=2))
    return out


# The same template as ChatTokenizer.encode_chat, for servers that render chats with Jinja.
CHAT_TEMPLATE_JINJA = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}" + END + "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "{% endif %}"
)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from flywheel.model.artifact import load_artifact

    parser = argparse.ArgumentParser(prog="flywheel export-hf", description="Export to transformers GPT-2.")
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    out = export_hf(load_artifact(args.model_dir), args.out_dir)
    print(f"wrote {out} (load with transformers.GPT2LMHeadModel.from_pretrained)")
    return 0
