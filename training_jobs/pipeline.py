"""The continuous-training SageMaker Pipeline, built with the SageMaker SDK v3.

    prepare (Processing: training_jobs/prepare_data.py) → train (ModelTrainer + Torchrun, spot with S3
    checkpoints, inter-container encryption, KMS volumes) → evaluate (Processing:
    training_jobs/evaluate.py, writes evaluation.json) → gate (Condition: evaluation.json's `gate` is
    "pass") → register (a model package in the group, pending manual approval).

The definition is deterministic: the same inputs give byte-identical JSON, so `pulumi up` shows no
diff when nothing changed. Two things make it so:
- Code is never uploaded by the SDK. `_StagingSession` intercepts its uploads, copies the files into a
  staging folder and names them by content (`code/<sha256>/...`); the Pulumi program uploads the staged
  files as S3 objects (`BuiltPipeline.uploads`). The entry points are uploaded the same way, from
  `training_jobs/` as it is, so a changed script gives a new prefix and a new definition.
- Values that only exist after deploy (role ARN, KMS key ARN, image URIs) are stand-in tokens in the
  built definition, replaced by `render(...)` once they are known (inside a Pulumi `apply`).

Contracts with the entry points (owned elsewhere, referenced here by path):
- prepare_data.py  --input /opt/ml/processing/input/raw --output /opt/ml/processing/output/shards
- train.py         SageMaker training contract; channels `train` (the shards); `--preset`, `--max-steps`
- evaluate.py      --model /opt/ml/processing/input/model --data /opt/ml/processing/input/shards
                   --output /opt/ml/processing/output/evaluation ; writes evaluation.json with a
                   top-level "gate": "pass" | "fail".

This module knows nothing of Pulumi and makes no AWS calls (the SDK is given a session whose uploads are
staged and whose default bucket is the lake). Print a definition:

    .venv/bin/python training_jobs/pipeline.py --bucket flywheel-dev-lake --region us-east-1
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.observability.catalogue import sagemaker_metric_definitions

HERE = Path(__file__).resolve().parent

# Stand-ins for deploy-time values; `render` swaps them for the real ones. They are shaped like the real
# thing because the SDK validates some of them.
ROLE_TOKEN = "arn:aws:iam::000000000000:role/flywheel-token-execution-role"
KMS_TOKEN = "arn:aws:kms:us-east-1:000000000000:key/flywheel-token-kms-key"
TRAINING_IMAGE_TOKEN = "000000000000.dkr.ecr.us-east-1.amazonaws.com/flywheel-token-training:latest"
INFERENCE_IMAGE_TOKEN = "000000000000.dkr.ecr.us-east-1.amazonaws.com/flywheel-token-inference:latest"
TOKENS = {"role_arn": ROLE_TOKEN, "kms_key_arn": KMS_TOKEN, "training_image": TRAINING_IMAGE_TOKEN,
          "inference_image": INFERENCE_IMAGE_TOKEN}

# Files never shipped with the code (caches, editor droppings).
_IGNORED = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".DS_Store"}

STEP_PREPARE, STEP_TRAIN, STEP_EVALUATE, STEP_GATE, STEP_REGISTER = (
    "PrepareData", "Train", "Evaluate", "Gate", "Register")


@dataclass(frozen=True)
class PipelineSettings:
    """Everything the definition depends on. Defaults suit a small GPU run."""

    name: str
    bucket: str
    region: str
    model_package_group: str
    training_instance_type: str = "ml.g5.2xlarge"
    training_instance_count: int = 1
    gpus_per_instance: int | None = None  # None: torchrun uses every GPU it finds
    processing_instance_type: str = "ml.m5.xlarge"
    # Instances of the cleaning job; above 1 they share an S3 work dir (the MinHash stages meet there).
    prepare_instance_count: int = 1
    use_spot: bool = True
    max_runtime_s: int = 24 * 3600
    max_wait_s: int = 36 * 3600  # spot: SageMaker requires MaxWait >= MaxRuntime
    preset: str = "small"
    max_steps: int = 2000
    volume_size_gb: int = 50
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    code_dir: Path = HERE
    tags: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.use_spot and self.max_wait_s < self.max_runtime_s:
            raise ValueError(f"spot training needs max_wait_s ({self.max_wait_s}) >= max_runtime_s "
                             f"({self.max_runtime_s})")
        if self.training_instance_count < 1:
            raise ValueError("training_instance_count must be at least 1")
        if self.prepare_instance_count < 1:
            raise ValueError("prepare_instance_count must be at least 1")

    def uri(self, *parts: str) -> str:
        return "s3://" + "/".join([self.bucket, *parts])


@dataclass(frozen=True)
class BuiltPipeline:
    """A definition with stand-in tokens, and the files Pulumi must upload for it to run."""

    definition: str
    uploads: dict[str, str]  # S3 key in the lake bucket -> staged local file

    def render(self, replacements: dict[str, str]) -> str:
        """The definition with each token (a key of `replacements`) swapped for its deploy-time value.

        Every token of TOKENS must be given; network tokens (`network_tokens`) only when used.
        Only whole JSON string values are swapped, so a token can never match inside another value.
        """
        missing = set(TOKENS.values()) - set(replacements)
        if missing:
            raise ValueError(f"render needs values for {sorted(missing)}")

        def walk(node):
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            if isinstance(node, str):
                return replacements.get(node, node)
            return node

        return _canonical(walk(json.loads(self.definition)))


def network_tokens(subnet_count: int) -> tuple[tuple[str, ...], str]:
    """Stand-ins for subnet ids and the security group id when the VPC is created in the same deploy."""
    return tuple(f"subnet-flywheeltoken{i}" for i in range(subnet_count)), "sg-flywheeltoken"


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _files_of(path: Path) -> list[tuple[str, Path]]:
    """(relative posix path, file) for a file or a directory tree, sorted, caches left out."""
    if path.is_file():
        return [(path.name, path)]
    found = []
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if file.is_file() and not _IGNORED.intersection(rel.parts) and file.suffix != ".pyc":
            found.append((rel.as_posix(), file))
    return found


def content_hash(path: Path) -> str:
    """SHA-256 over relative paths and bytes: the same tree always gives the same hash."""
    digest = hashlib.sha256()
    for rel, file in _files_of(path):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:24]


class _Stager:
    """Copies what would be uploaded into `stage_dir/<hash>/...`; keys are `code/<hash>/...`."""

    def __init__(self, bucket: str, stage_dir: Path):
        self.bucket, self.stage_dir = bucket, stage_dir
        self.uploads: dict[str, str] = {}

    def stage(self, path: Path) -> str:
        digest = content_hash(path)
        prefix = f"code/{digest}"
        for rel, file in _files_of(path):
            target = self.stage_dir / digest / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
            self.uploads[f"{prefix}/{rel}"] = str(target)
        # A directory is an S3 prefix: the SDK wants the trailing slash to tell it from a file.
        suffix = f"/{path.name}" if path.is_file() else "/"
        return f"s3://{self.bucket}/{prefix}{suffix}"


def _prepare_environment(region: str) -> None:
    """The SDK reads these at import and at build time (NOTES.md, "SDK v3 gotchas")."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"  # no iam:SimulatePrincipalPolicy while building
    if "SAGEMAKER_USER_CONFIG_OVERRIDE" not in os.environ:
        config = Path(tempfile.gettempdir()) / "flywheel-sagemaker-telemetry-opt-out.yaml"
        config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                          "      TelemetryOptOut: true\n")
        os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(config)


def _offline_session_class():
    import boto3
    from botocore.config import Config

    class OfflineSession(boto3.Session):
        """A boto3 session whose clients reach nothing: building a definition needs no AWS call, and the
        one the SDK attempts anyway (an IAM policy simulation to pick a staging bucket, which it skips
        on failure) is refused at once on a closed loopback port instead of waiting on the network."""

        def client(self, service_name, *args, **kwargs):
            kwargs.update(endpoint_url=_NOWHERE, config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                                               connect_timeout=1, read_timeout=1))
            return super().client(service_name, *args, **kwargs)

    return OfflineSession


_NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@contextlib.contextmanager
def _validate_sdk_config_once():
    """The SDK re-validates its whole config file against a large JSON schema on every config lookup
    (about fifty per build, ~1 s of CPU each here). Validation is a pure function of the config, so
    validating each distinct config once gives the same answers: this does that while building."""
    from sagemaker.core.config.config_manager import SageMakerConfig

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    valid: set[str] = set()

    def validate_once(sagemaker_config=None):
        key = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if key not in valid:
            original.__func__(sagemaker_config)
            valid.add(key)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)
    try:
        yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original


def build(settings: PipelineSettings, stage_dir: Path) -> BuiltPipeline:
    """Build the pipeline with the SDK and return its canonical definition and the staged uploads."""
    _prepare_environment(settings.region)
    # The SDK narrates session set-up and compilation at INFO/WARNING ("Popping out 'TrainingJobName'",
    # all expected here) and prints a stray line: keep stdout for the definition, logs for real trouble.
    logging.disable(logging.WARNING)
    try:
        with _validate_sdk_config_once(), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _build(settings, stage_dir)
    finally:
        logging.disable(logging.NOTSET)


def _build(settings: PipelineSettings, stage_dir: Path) -> BuiltPipeline:
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        MetricDefinition,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
        Tag,
    )
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        InputData,
        Networking,
        OutputDataConfig,
        SourceCode,
        StoppingCondition,
    )
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer
    from sagemaker.train.distributed import Torchrun

    stager = _Stager(settings.bucket, stage_dir)
    _OfflineSession = _offline_session_class()

    class _StagingSession(PipelineSession):
        """A PipelineSession that stages uploads instead of making them, and trusts its bucket."""

        def upload_data(self, path, bucket=None, key_prefix="data", callback=None, extra_args=None):
            return stager.stage(Path(path))

        def upload_string_as_file_body(self, body, bucket, key, kms_key=None):
            raise RuntimeError(f"unexpected upload of a string to {key}: stage it as a file instead")

        def default_bucket(self):
            return settings.bucket

    boto_session = _OfflineSession(region_name=settings.region, aws_access_key_id="unused",
                                   aws_secret_access_key="unused")
    session = _StagingSession(boto_session=boto_session, default_bucket=settings.bucket)
    code_uri = stager.stage(settings.code_dir)  # the entry points, content-addressed
    execution = ExecutionVariables.PIPELINE_EXECUTION_ID
    tags = [{"Key": k, "Value": v} for k, v in settings.tags]

    preset = ParameterString(name="Preset", default_value=settings.preset)
    max_steps = ParameterInteger(name="MaxSteps", default_value=settings.max_steps)
    raw_uri = ParameterString(name="RawDataUri", default_value=settings.uri("raw", ""))
    approval = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")
    # The approved champion's model.tar.gz (empty for the first model): the gate compares against it.
    champion_uri = ParameterString(name="ChampionModelUri", default_value="")
    # Pretraining has no judge of answers: the gate decides on held-out loss and safety alone.
    gate_config = ParameterString(name="GateConfig", default_value='{"require_win_rate": false}')

    network = None
    if settings.subnet_ids:
        from sagemaker.core.network import NetworkConfig
        network = NetworkConfig(subnets=list(settings.subnet_ids),
                                security_group_ids=list(settings.security_group_ids),
                                encrypt_inter_container_traffic=True)

    def processor(job: str, instance_count: int = 1) -> ScriptProcessor:
        return ScriptProcessor(
            role=ROLE_TOKEN, image_uri=TRAINING_IMAGE_TOKEN, command=["python3"], instance_count=instance_count,
            instance_type=settings.processing_instance_type, volume_size_in_gb=settings.volume_size_gb,
            volume_kms_key=KMS_TOKEN, output_kms_key=KMS_TOKEN, max_runtime_in_seconds=4 * 3600,
            base_job_name=f"{settings.name}-{job}"[:32], sagemaker_session=session, tags=tags or None,
            network_config=network)

    def s3_input(name: str, uri, local: str) -> ProcessingInput:
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"))

    def s3_output(name: str, uri, local: str) -> ProcessingOutput:
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=uri, local_path=local, s3_upload_mode="EndOfJob"))

    # 1. Data: clean, dedup, tokenise the raw zone into shards for this execution.
    shards_uri = Join(on="/", values=[settings.uri("shards", "pipeline"), execution])
    # Several instances read the same (fully replicated) raw input, split the files among their ranks
    # themselves and meet on an S3 work dir; prepare_data.py reads its host index from resourceconfig.json.
    shared_work = ["--work-dir", Join(on="/", values=[settings.uri("shards", "work"), execution])] \
        if settings.prepare_instance_count > 1 else []
    prepare = ProcessingStep(name=STEP_PREPARE, step_args=processor("prepare", settings.prepare_instance_count).run(
        code=f"{code_uri}prepare_data.py",
        inputs=[s3_input("raw", raw_uri, "/opt/ml/processing/input/raw")],
        outputs=[s3_output("shards", shards_uri, "/opt/ml/processing/output/shards")],
        arguments=["--input", "/opt/ml/processing/input/raw", "--output", "/opt/ml/processing/output/shards",
                   *shared_work],
    ))

    # 2. Training: torchrun over every GPU of every instance, resumable on spot interruption.
    networking = Networking(enable_inter_container_traffic_encryption=True,
                            subnets=list(settings.subnet_ids) or None,
                            security_group_ids=list(settings.security_group_ids) or None)
    torchrun = Torchrun(process_count_per_node=settings.gpus_per_instance) \
        if settings.gpus_per_instance else Torchrun()
    trainer = ModelTrainer(
        sagemaker_session=session, role=ROLE_TOKEN, base_job_name=f"{settings.name}-train"[:32],
        training_image=TRAINING_IMAGE_TOKEN,
        source_code=SourceCode(source_dir=code_uri, entry_script="train.py"),
        distributed=torchrun,
        compute=Compute(instance_type=settings.training_instance_type,
                        instance_count=settings.training_instance_count,
                        volume_size_in_gb=settings.volume_size_gb, volume_kms_key_id=KMS_TOKEN,
                        enable_managed_spot_training=settings.use_spot),
        networking=networking,
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=settings.max_runtime_s,
            max_wait_time_in_seconds=settings.max_wait_s if settings.use_spot else None),
        output_data_config=OutputDataConfig(s3_output_path=settings.uri("training", "output"),
                                            kms_key_id=KMS_TOKEN),
        checkpoint_config=CheckpointConfig(
            s3_uri=Join(on="/", values=[settings.uri("training", "checkpoints"), execution]),
            local_path="/opt/ml/checkpoints"),
        hyperparameters={"preset": preset, "max-steps": max_steps},
        tags=[Tag(key=t["Key"], value=t["Value"]) for t in tags] or None,
    ).with_metric_definitions([MetricDefinition(name=d["Name"], regex=d["Regex"])
                               for d in sagemaker_metric_definitions()])
    train = TrainingStep(name=STEP_TRAIN, step_args=trainer.train(input_data_config=[
        InputData(channel_name="train",
                  data_source=prepare.properties.ProcessingOutputConfig.Outputs["shards"].S3Output.S3Uri),
    ]))

    # 3. Evaluation: challenger against the data's validation split; the gate's verdict in JSON.
    evaluation = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluation_uri = Join(on="/", values=[settings.uri("training", "evaluation"), execution])
    evaluate = ProcessingStep(name=STEP_EVALUATE, property_files=[evaluation], step_args=processor(
        "evaluate").run(
        code=f"{code_uri}evaluate.py",
        inputs=[s3_input("model", train.properties.ModelArtifacts.S3ModelArtifacts,
                         "/opt/ml/processing/input/model"),
                s3_input("shards", prepare.properties.ProcessingOutputConfig.Outputs["shards"].S3Output.S3Uri,
                         "/opt/ml/processing/input/shards")],
        outputs=[s3_output("evaluation", evaluation_uri, "/opt/ml/processing/output/evaluation")],
        arguments=["--model", "/opt/ml/processing/input/model", "--data", "/opt/ml/processing/input/shards",
                   "--output", "/opt/ml/processing/output/evaluation", "--champion", champion_uri,
                   "--gate-config", gate_config],
    ))

    # 4–5. Register only what passed the gate; approval stays a human (or the loop's) decision.
    builder = ModelBuilder(image_uri=INFERENCE_IMAGE_TOKEN, role_arn=ROLE_TOKEN, sagemaker_session=session,
                           s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts)
    register = ModelStep(name=STEP_REGISTER, step_args=builder.register(
        model_package_group_name=settings.model_package_group,
        content_types=["application/json"], response_types=["application/json", "text/event-stream"],
        inference_instances=["ml.m5.xlarge", "ml.g5.xlarge"], approval_status=approval,
        description="candidate from the continuous-training pipeline; passed the gate",
    ))
    gate = ConditionStep(
        name=STEP_GATE,
        conditions=[ConditionEquals(left=JsonGet(step_name=STEP_EVALUATE, property_file=evaluation,
                                                 json_path="gate"), right="pass")],
        if_steps=[register], else_steps=[])

    pipeline = Pipeline(name=settings.name, parameters=[preset, max_steps, raw_uri, approval, champion_uri, gate_config],
                        steps=[prepare, train, evaluate, gate], sagemaker_session=session)
    definition = _canonical(json.loads(pipeline.definition()))
    return BuiltPipeline(definition=definition, uploads=dict(sorted(stager.uploads.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="flywheel-local-continuous-training")
    parser.add_argument("--bucket", default="flywheel-local-lake")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--model-package-group", default="flywheel-local-models")
    parser.add_argument("--stage-dir", default=None, help="where staged code goes (default: a temp dir)")
    args = parser.parse_args(argv)
    stage = Path(args.stage_dir or tempfile.mkdtemp(prefix="flywheel-pipeline-"))
    built = build(PipelineSettings(name=args.name, bucket=args.bucket, region=args.region,
                                   model_package_group=args.model_package_group), stage)
    print(json.dumps(json.loads(built.definition), indent=2))
    print(f"# {len(built.uploads)} staged files under {stage}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
