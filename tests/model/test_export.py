import pytest
import torch

from flywheel.model.artifact import load_artifact
from flywheel.model.export import export_hf

transformers = pytest.importorskip("transformers")


def test_exported_weights_give_the_same_logits_in_transformers(tiny_artifact, tmp_path):
    artifact = load_artifact(tiny_artifact)
    out = export_hf(artifact, tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()
    idx = torch.randint(0, artifact.config.vocab_size, (2, 30))
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, artifact.model(idx), rtol=1e-4, atol=1e-5)


def test_exported_tokenizer_renders_the_same_chat(tiny_artifact, tmp_path):
    artifact = load_artifact(tiny_artifact)
    out = export_hf(artifact, tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a list?"}]
    ours, _ = artifact.tokenizer.encode_chat(messages, add_generation_prompt=True)
    theirs = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(theirs, dict) or hasattr(theirs, "input_ids"):
        theirs = theirs["input_ids"]
    assert list(theirs) == ours
