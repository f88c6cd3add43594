"""The SageMaker Processing entry point of the cleaning job (flywheel.data.prepare does the work).

With no arguments it uses the Processing contract's paths:

    input   /opt/ml/processing/input/raw        (a ProcessingInput of s3://<bucket>/raw/)
    output  /opt/ml/processing/output/train     (a ProcessingOutput to s3://<bucket>/shards/<version>/;
                                                 the folder as it is is a training channel)

and, on several instances, /opt/ml/config/resourceconfig.json (`hosts`, `current_host`) to give each
instance its share of every stage's tasks; `--work-dir` must then be an S3 prefix they share
(FLYWHEEL_RESOURCE_CONFIG names another file in that format: how a test starts "instances" locally).
`--input lake` reads the raw zone of the stack named by FLYWHEEL_STACK straight from S3, and with
FLYWHEEL_STACK set the curated rows, manifest and shards are also published to that stack's lake.

    python training_jobs/prepare_data.py --input runs/raw --output runs/shards [--tasks 4 --workers 2]
    python training_jobs/prepare_data.py                            # inside the Processing container
Any other flag of `flywheel prepare-data` passes through.
"""

import json
import os
import sys
from pathlib import Path

try:
    from flywheel.data.prepare import main as prepare_main
except ModuleNotFoundError:  # a source checkout without `pip install`: use its src/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from flywheel.data.prepare import main as prepare_main

PROCESSING_INPUT = "/opt/ml/processing/input/raw"
PROCESSING_OUTPUT = "/opt/ml/processing/output/train"
RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"


def _flag(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _drop_flag(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == name:
            skip = i + 1 < len(argv)
            continue
        if not arg.startswith(name + "="):
            out.append(arg)
    return out


def build_argv(argv: list[str], environ=os.environ, resource_config: str = RESOURCE_CONFIG) -> list[str]:
    """The `flywheel prepare-data` arguments for this invocation (defaults from the Processing contract)."""
    argv = list(argv)
    stack = environ.get("FLYWHEEL_STACK")
    project = environ.get("FLYWHEEL_PROJECT", "flywheel")
    source = _flag(argv, "--input")
    if source is None:
        argv += ["--input", PROCESSING_INPUT]
    elif source == "lake":
        if not stack:
            raise SystemExit("--input lake needs FLYWHEEL_STACK to name the stack whose raw zone to read")
        from flywheel.names import StackNames

        argv = _drop_flag(argv, "--input") + ["--input", StackNames(project, stack).zone_uri("raw")]
    if _flag(argv, "--output") is None:
        argv += ["--output", PROCESSING_OUTPUT]
    if stack and _flag(argv, "--lake-stack") is None:
        argv += ["--lake-stack", stack, "--lake-project", project]
    if _flag(argv, "--hosts") is None and Path(resource_config).is_file():
        config = json.loads(Path(resource_config).read_text())
        hosts = sorted(config.get("hosts", []))
        if len(hosts) > 1:
            argv += ["--hosts", str(len(hosts)), "--host-index", str(hosts.index(config["current_host"]))]
    return argv


if __name__ == "__main__":
    sys.exit(prepare_main(build_argv(sys.argv[1:],
                                     resource_config=os.environ.get("FLYWHEEL_RESOURCE_CONFIG", RESOURCE_CONFIG))))
