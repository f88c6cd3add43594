"""training_jobs/prepare_data.py: the SageMaker Processing contract around `flywheel prepare-data`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ENTRY = Path(__file__).resolve().parents[2] / "training_jobs" / "prepare_data.py"


@pytest.fixture(scope="module")
def entry():
    spec = importlib.util.spec_from_file_location("prepare_data_entry", ENTRY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_arguments_means_the_processing_paths(entry, tmp_path):
    argv = entry.build_argv([], environ={}, resource_config=str(tmp_path / "none.json"))
    assert argv == ["--input", "/opt/ml/processing/input/raw", "--output", "/opt/ml/processing/output/train"]


def test_several_instances_share_the_tasks(entry, tmp_path):
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2", "algo-3"]}))
    argv = entry.build_argv(["--work-dir", "s3://b/work"], environ={}, resource_config=str(config))
    assert argv[argv.index("--hosts") + 1] == "3" and argv[argv.index("--host-index") + 1] == "1"


def test_lake_input_and_publishing_follow_the_stack(entry, tmp_path):
    argv = entry.build_argv(["--input", "lake", "--output", "out"], environ={"FLYWHEEL_STACK": "dev"},
                            resource_config=str(tmp_path / "none.json"))
    assert argv[argv.index("--input") + 1] == "s3://flywheel-dev-lake/raw/"
    assert argv[argv.index("--lake-stack") + 1] == "dev"
    with pytest.raises(SystemExit, match="FLYWHEEL_STACK"):
        entry.build_argv(["--input", "lake"], environ={}, resource_config=str(tmp_path / "none.json"))


def test_runs_as_a_script_on_local_folders(entry, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("The cat sat on the mat and looked out of the window at the birds in the "
                               "garden, where the old tree stood beside the wall and the grass was long.")
    (raw / "b.jsonl").write_text("oops\n")
    assert entry.prepare_main(entry.build_argv(["--input", str(raw), "--output", str(tmp_path / "out"),
                                                "--workers", "1", "--vocab-size", "300"], environ={})) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (manifest["documents_in"], manifest["documents_kept"], manifest["dropped"]) == \
        (2, 1, {"read.invalid_json": 1})
