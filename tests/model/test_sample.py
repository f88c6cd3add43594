import torch

from flywheel.model.artifact import load_artifact
from flywheel.model.sample import generate, main


def test_greedy_generation_with_cache_equals_argmax_of_full_forward(tiny_artifact):
    art = load_artifact(tiny_artifact)
    prompt = art.tokenizer.encode("Return a new list")
    out = generate(art, prompt, max_tokens=12)
    seq = list(prompt)
    for _ in range(len(out)):
        logits = art.model(torch.tensor([seq]))[0, -1]
        logits[art.tokenizer.pad_id] = float("-inf")
        seq.append(int(logits.argmax()))
    assert seq[len(prompt):] == out


def test_cli_prints_a_continuation(tiny_artifact, capsys):
    assert main([str(tiny_artifact), "--prompt", "Return the", "--max-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("Return the")
