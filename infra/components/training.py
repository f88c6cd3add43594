"""Training: the SageMaker execution role, the model package group, the continuous-training pipeline and
what starts it.

The pipeline's definition comes from the SageMaker SDK (`training_jobs/pipeline.py`), built once when the
program starts, with stand-in tokens for the role, key and image values that only exist after deploy;
`Output.apply` swaps them in. Its code is uploaded here as content-addressed S3 objects, so a run of
`pulumi up` with nothing changed shows no diff. Three things start it: an EventBridge Scheduler schedule,
an alarm on the volume of new feedback, and the drift alarm (by name: Observability owns it).

What it does not know: what the entry points do (training_jobs/*.py), or how the gate decides.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from flywheel.names import StackNames
from flywheel.observability import catalogue
from infra import policies

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # Pulumi runs infra/ as the program directory
    sys.path.insert(0, str(REPO_ROOT))

from training_jobs import pipeline as sm_pipeline


@functools.lru_cache(maxsize=8)
def built_pipeline(settings: sm_pipeline.PipelineSettings) -> sm_pipeline.BuiltPipeline:
    """Build once per process and settings (the SDK takes seconds to import); staged files live in a
    stable folder, content-addressed, so repeated builds reuse them."""
    stage = Path(tempfile.gettempdir()) / "flywheel-pipeline-stage" / settings.name
    return sm_pipeline.build(settings, stage)


def pipeline_settings(names: StackNames, region: str, training, network_subnets: int = 0
                      ) -> sm_pipeline.PipelineSettings:
    """The SDK-side settings from the stack's TrainingConfig (plain values only)."""
    subnets, group = sm_pipeline.network_tokens(network_subnets) if network_subnets else ((), None)
    return sm_pipeline.PipelineSettings(
        name=names.pipeline, bucket=names.bucket, region=region, model_package_group=names.model_package_group,
        training_instance_type=training.instance_type, training_instance_count=training.instance_count,
        processing_instance_type=training.processing_instance_type,
        prepare_instance_count=training.prepare_instance_count, use_spot=training.use_spot,
        max_runtime_s=training.max_runtime_s, max_wait_s=training.max_wait_s, preset=training.preset,
        max_steps=training.max_steps, subnet_ids=subnets, security_group_ids=(group,) if group else (),
        tags=tuple(sorted(policies.tags(names, "training").items())))


def feedback_volume_alarm_spec(names: StackNames, per_hour: int) -> dict:
    """The alarm that starts a run when enough new feedback arrived within an hour."""
    m = catalogue.metric("Feedback")
    return {"name": policies.alarm_name(names, "feedback-volume"), "namespace": m.namespace,
            "metric_name": m.name, "dimensions": {catalogue.SERVICE: m.layer}, "statistic": "Sum",
            "period": 3600, "evaluation_periods": 1, "threshold": float(per_hour),
            "comparison_operator": "GreaterThanOrEqualToThreshold", "treat_missing_data": "notBreaching"}


def trigger_event_pattern(alarm_names: list[str]) -> dict:
    """EventBridge pattern: any of these alarms entering ALARM."""
    return {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
            "detail": {"alarmName": sorted(alarm_names), "state": {"value": ["ALARM"]}}}


@dataclass(frozen=True)
class TrainingArgs:
    names: StackNames
    region: str
    training: object  # config.TrainingConfig
    account_id: pulumi.Input[str]
    bucket_name: pulumi.Input[str]  # the lake's output, so code objects wait for the bucket
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    training_repository_arn: pulumi.Input[str]
    training_repository_url: pulumi.Input[str]
    inference_repository_arn: pulumi.Input[str]
    inference_repository_url: pulumi.Input[str]
    drift_alarm_name: str
    partition: pulumi.Input[str] = "aws"
    subnet_ids: pulumi.Input[list[str]] | None = None
    subnet_count: int = 0
    security_group_id: pulumi.Input[str] | None = None


class Training(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    pipeline_name: pulumi.Output[str]
    model_package_group_arn: pulumi.Output[str]
    model_package_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:training:Training", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n, cfg, tags = args.names, args.training, policies.tags(args.names, "training")
        network = args.subnet_ids is not None

        group = aws.sagemaker.ModelPackageGroup(
            f"{name}-models", model_package_group_name=n.model_package_group,
            model_package_group_description="Flywheel candidates; the gate approves champions", tags=tags,
            opts=child)

        role = aws.iam.Role(
            f"{name}-execution-role", name=policies.physical_name(n, "sagemaker-execution"), tags=tags,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(policies.assume_role("sagemaker.amazonaws.com", a))), opts=child)
        role_policy = aws.iam.RolePolicy(
            f"{name}-execution-policy", role=role.id,
            policy=pulumi.Output.all(args.bucket_arn, args.kms_key_arn, args.training_repository_arn,
                                     args.inference_repository_arn, group.arn, role.arn, args.account_id,
                                     args.partition).apply(
                lambda v: json.dumps(policies.sagemaker_execution_policy(
                    bucket_arn=v[0], kms_key_arn=v[1], repository_arns=[v[2], v[3]], model_package_group_arn=v[4],
                    role_arn=v[5], region=args.region, account_id=v[6], job_prefix=n.prefix, network=network,
                    partition=v[7]))),
            opts=child)

        built = built_pipeline(pipeline_settings(n, args.region, cfg, args.subnet_count if network else 0))
        code_objects = [
            aws.s3.BucketObjectv2(
                f"{name}-code-{hashlib.sha256(key.encode()).hexdigest()[:12]}", bucket=args.bucket_name, key=key,
                source=pulumi.FileAsset(path), server_side_encryption="aws:kms", kms_key_id=args.kms_key_arn,
                tags=tags, opts=child)
            for key, path in built.uploads.items()]

        tokens = sm_pipeline.TOKENS
        replacements = {
            tokens["role_arn"]: role.arn, tokens["kms_key_arn"]: args.kms_key_arn,
            tokens["training_image"]: pulumi.Output.concat(args.training_repository_url, ":", cfg.image_tag),
            tokens["inference_image"]: pulumi.Output.concat(args.inference_repository_url, ":", cfg.image_tag),
        }
        if network:
            subnet_tokens, group_token = sm_pipeline.network_tokens(args.subnet_count)
            subnet_ids = pulumi.Output.from_input(args.subnet_ids)
            for i, token in enumerate(subnet_tokens):
                replacements[token] = subnet_ids.apply(lambda ids, i=i: ids[i])
            replacements[group_token] = args.security_group_id
        definition = pulumi.Output.all(**replacements).apply(built.render)

        pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline", pipeline_name=n.pipeline, pipeline_display_name=n.pipeline,
            pipeline_description="prepare → train (torchrun, spot) → evaluate → gate → register",
            role_arn=role.arn, pipeline_definition=definition, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, *code_objects]))

        # Triggers: a schedule, a burst of feedback, drift. All may only start this one pipeline.
        starter = aws.iam.Role(
            f"{name}-trigger-role", tags=tags,
            assume_role_policy=json.dumps(policies.document(
                {"Effect": "Allow", "Principal": {"Service": ["scheduler.amazonaws.com", "events.amazonaws.com"]},
                 "Action": "sts:AssumeRole"})), opts=child)
        aws.iam.RolePolicy(f"{name}-trigger-policy", role=starter.id,
                           policy=pulumi.Output.all(pipeline.arn, args.kms_key_arn).apply(
                               lambda v: json.dumps(policies.start_pipeline_policy(v[0], v[1]))),
                           opts=child)
        aws.scheduler.Schedule(
            f"{name}-schedule", name=policies.physical_name(n, "continuous-training"),
            schedule_expression=cfg.schedule, kms_key_arn=args.kms_key_arn,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="FLEXIBLE",
                                                                              maximum_window_in_minutes=60),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=pipeline.arn, role_arn=starter.arn,
                sagemaker_pipeline_parameters=aws.scheduler.ScheduleTargetSagemakerPipelineParametersArgs(
                    pipeline_parameters=[aws.scheduler.ScheduleTargetSagemakerPipelineParametersPipelineParameterArgs(
                        name="Preset", value=cfg.preset)])),
            opts=child)

        spec = feedback_volume_alarm_spec(n, cfg.feedback_trigger)
        aws.cloudwatch.MetricAlarm(
            f"{name}-feedback-volume", name=spec["name"], namespace=spec["namespace"],
            metric_name=spec["metric_name"], dimensions=spec["dimensions"], statistic=spec["statistic"],
            period=spec["period"], evaluation_periods=spec["evaluation_periods"], threshold=spec["threshold"],
            comparison_operator=spec["comparison_operator"], treat_missing_data=spec["treat_missing_data"],
            alarm_description="enough new feedback to train on: starts the continuous-training pipeline",
            tags=tags, opts=child)
        rule = aws.cloudwatch.EventRule(
            f"{name}-alarm-trigger", name=policies.physical_name(n, "training-trigger"),
            description="feedback volume or drift alarm → continuous training",
            event_pattern=json.dumps(trigger_event_pattern([spec["name"], args.drift_alarm_name])), tags=tags,
            opts=child)
        aws.cloudwatch.EventTarget(
            f"{name}-alarm-trigger-target", rule=rule.name, arn=pipeline.arn, role_arn=starter.arn,
            sagemaker_pipeline_target=aws.cloudwatch.EventTargetSagemakerPipelineTargetArgs(
                pipeline_parameter_lists=[aws.cloudwatch.EventTargetSagemakerPipelineTargetPipelineParameterListArgs(
                    name="Preset", value=cfg.preset)]),
            opts=child)

        self.role_arn = role.arn
        self.pipeline_arn = pipeline.arn
        self.pipeline_name = pipeline.pipeline_name
        self.model_package_group_arn = group.arn
        self.model_package_group_name = group.model_package_group_name
        self.register_outputs({"role_arn": role.arn, "pipeline_arn": pipeline.arn,
                               "model_package_group_arn": group.arn})
