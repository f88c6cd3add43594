import io
import json
import tarfile

import pytest
import torch

from flywheel.model.artifact import ArtifactError, load_artifact, pack, save_artifact, unpack


def test_round_trip_gives_identical_logits(tiny_artifact, tmp_path):
    first = load_artifact(tiny_artifact)
    archive = pack(tiny_artifact, tmp_path / "model.tar.gz")
    second = load_artifact(unpack(archive, tmp_path / "unpacked"))
    idx = torch.randint(0, first.config.vocab_size, (2, 20))
    assert torch.equal(first.model(idx), second.model(idx))
    assert second.meta["data_version"] == "test-data-v1"
    assert second.version == "test-v1"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["config.json", "model.safetensors", "tokenizer.json"]


def test_unpack_refuses_paths_that_escape(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"pwned"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArtifactError):
        unpack(archive, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()


def test_unpack_refuses_links_out_of_the_folder(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("config.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ArtifactError):
        unpack(archive, tmp_path / "target")


def test_corrupt_or_foreign_artifacts_are_clear_errors(tiny_artifact, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_artifact, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_artifact(broken)
    meta = json.loads((tiny_artifact / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ArtifactError, match="newer"):
        load_artifact(broken)
    with pytest.raises(ArtifactError, match="missing"):
        load_artifact(tmp_path / "nowhere")


def test_tokenizer_smaller_than_model_vocab_is_fine_but_larger_is_refused(tiny_artifact, tmp_path):
    art = load_artifact(tiny_artifact)
    from flywheel.model import GPT, preset

    small = GPT(preset("debug", vocab_size=art.tokenizer.vocab_size - 1))
    with pytest.raises(ArtifactError, match="tokenizer has"):
        save_artifact(tmp_path / "x", small, art.tokenizer, version="v")
