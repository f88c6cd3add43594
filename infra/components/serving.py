"""Serving: the multi-model endpoint on CPU, with data capture, canary deployments and autoscaling; and
an optional GPU single-model endpoint of the same image.

The model is a `MultiModel` container over the lake's `models/` prefix: deploying a new version is
writing its `model.tar.gz` there (the loop does that), not changing this stack. Endpoint updates shift
traffic to the new fleet in a canary step and roll back on their own when the rollback alarms fire
(5xx and model latency on this endpoint; they exist before the endpoint so it can name them). AWS runs
bring-your-own-container multi-model endpoints on CPU only; the GPU option hosts the champion artifact
as a single-model endpoint. The endpoint waits for `serving.deployEndpoint` (the image must be pushed);
with it comes the routing canary's controller, a scheduled Lambda (infra/components/canary.py).

What it does not know: what the container does (containers/inference), which model is champion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flywheel.names import StackNames
from flywheel.observability import catalogue
from infra import policies
from infra.components.canary import CanaryControllerArgs, add_canary_controller

VARIANT = "primary"


def endpoint_arn(partition: str, region: str, account_id: str, endpoint: str) -> str:
    # SageMaker lower-cases endpoint names in ARNs.
    return f"arn:{partition}:sagemaker:{region}:{account_id}:endpoint/{endpoint.lower()}"


def rollback_alarm_specs(names: StackNames, period_s: int = 60) -> list[dict]:
    """Guardrail alarms the endpoint's deployments roll back on (no notifications: they only steer)."""
    dims = {"EndpointName": names.endpoint, "VariantName": VARIANT}
    errors = catalogue.lookup(catalogue.SAGEMAKER_ENDPOINT_NAMESPACE, "Invocation5XXErrors")
    latency = catalogue.lookup(catalogue.SAGEMAKER_ENDPOINT_NAMESPACE, "ModelLatency")
    return [
        {"role": "rollback-5xx", "name": policies.alarm_name(names, "endpoint-rollback-5xx"),
         "namespace": errors.namespace, "metric_name": errors.name, "dimensions": dims, "statistic": "Sum",
         "period": period_s, "evaluation_periods": 2, "threshold": 1.0,
         "comparison_operator": "GreaterThanOrEqualToThreshold"},
        {"role": "rollback-latency", "name": policies.alarm_name(names, "endpoint-rollback-latency"),
         "namespace": latency.namespace, "metric_name": latency.name, "dimensions": dims,
         "extended_statistic": "p99", "period": period_s, "evaluation_periods": 3,
         "threshold": 30_000_000.0,  # microseconds: 30 s at p99 means the new fleet is stuck
         "comparison_operator": "GreaterThanThreshold"},
    ]


def canary_config(serving) -> dict:
    """The controller's CANARY_CONFIG from the serving config (flywheel.feedback.gate.CanaryConfig fields)."""
    return {"share": serving.canary_percent / 100, "bake_seconds": float(serving.canary_bake_s),
            "min_requests": serving.canary_min_requests, "max_error_rate": serving.canary_max_error_rate,
            "min_feedback": serving.canary_min_feedback, "max_thumbs_down_rate": serving.canary_max_thumbs_down_rate}


@dataclass(frozen=True)
class ServingArgs:
    names: StackNames
    region: str
    serving: object  # config.ServingConfig
    account_id: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    inference_repository_arn: pulumi.Input[str]
    inference_repository_url: pulumi.Input[str]
    partition: pulumi.Input[str] = "aws"
    subnet_ids: pulumi.Input[list[str]] | None = None
    security_group_id: pulumi.Input[str] | None = None
    # The canary controller Lambda's runtime, Powertools layer and log retention (the API's settings).
    lambda_runtime: str = "python3.12"
    powertools_layer_version: int = 18
    log_retention_days: int = 365


class Serving(pulumi.ComponentResource):
    endpoint_name: pulumi.Output[str]
    endpoint_arns: pulumi.Output[list[str]]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n, cfg, tags = args.names, args.serving, policies.tags(args.names, "serving")
        network = args.subnet_ids is not None
        bucket = n.bucket

        role = aws.iam.Role(
            f"{name}-role", name=policies.physical_name(n, "sagemaker-serving"), tags=tags,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(policies.assume_role("sagemaker.amazonaws.com", a))), opts=child)
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy", role=role.id,
            policy=pulumi.Output.all(args.bucket_arn, args.kms_key_arn, args.inference_repository_arn,
                                     args.account_id, args.partition).apply(
                lambda v: json.dumps(policies.serving_policy(
                    bucket_arn=v[0], kms_key_arn=v[1], repository_arn=v[2], region=args.region, account_id=v[3],
                    endpoint_prefix=n.endpoint, network=network, partition=v[4]))),
            opts=child)

        endpoints = [n.endpoint] + ([f"{n.endpoint}-gpu"] if cfg.gpu_instance_type else [])
        self.endpoint_name = pulumi.Output.from_input(n.endpoint)
        self.endpoint_arns = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda v: [endpoint_arn(v[0], args.region, v[1], e) for e in endpoints])
        self.role_arn = role.arn

        if cfg.deploy_endpoint:
            image = pulumi.Output.concat(args.inference_repository_url, ":", cfg.image_tag)
            vpc = aws.sagemaker.ModelVpcConfigArgs(
                subnets=args.subnet_ids, security_group_ids=[args.security_group_id]) if network else None
            after_policy = pulumi.ResourceOptions(parent=self, depends_on=[role_policy])

            model = aws.sagemaker.Model(
                f"{name}-mme", execution_role_arn=role.arn, vpc_config=vpc, tags=tags,
                primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                    image=image, mode="MultiModel", model_data_url=n.zone_uri("models"),
                    environment={"FLYWHEEL_PROJECT": n.project, "FLYWHEEL_STACK": n.stack,
                                 "SAGEMAKER_MULTI_MODEL": "true"}),
                opts=after_policy)
            config = aws.sagemaker.EndpointConfiguration(
                f"{name}-config", kms_key_arn=args.kms_key_arn, tags=tags,
                production_variants=[aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name=VARIANT, model_name=model.name, instance_type=cfg.instance_type,
                    initial_instance_count=cfg.instance_count)],
                data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                    enable_capture=True, initial_sampling_percentage=cfg.capture_percent,
                    destination_s3_uri=f"s3://{bucket}/{policies.CAPTURE_PREFIX}", kms_key_id=args.kms_key_arn,
                    capture_options=[aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                        capture_mode=mode) for mode in ("Input", "Output")],
                    capture_content_type_header=aws.sagemaker
                    .EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                        json_content_types=["application/json"])),
                opts=child)
            rollback = [aws.cloudwatch.MetricAlarm(
                f"{name}-{spec['role']}", name=spec["name"], namespace=spec["namespace"],
                metric_name=spec["metric_name"], dimensions=spec["dimensions"], statistic=spec.get("statistic"),
                extended_statistic=spec.get("extended_statistic"), period=spec["period"],
                evaluation_periods=spec["evaluation_periods"], threshold=spec["threshold"],
                comparison_operator=spec["comparison_operator"], treat_missing_data="notBreaching",
                alarm_description="deployment guardrail: the endpoint rolls back when this fires", tags=tags,
                opts=child) for spec in rollback_alarm_specs(n)]
            endpoint = aws.sagemaker.Endpoint(
                f"{name}-endpoint", name=n.endpoint, endpoint_config_name=config.name, tags=tags,
                deployment_config=aws.sagemaker.EndpointDeploymentConfigArgs(
                    blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
                        traffic_routing_configuration=aws.sagemaker
                        .EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
                            type="CANARY", wait_interval_in_seconds=cfg.canary_wait_s,
                            canary_size=aws.sagemaker
                            .EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs(
                                type="CAPACITY_PERCENT", value=cfg.canary_percent)),
                        termination_wait_in_seconds=300),
                    auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                        alarms=[aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(
                            alarm_name=a.name) for a in rollback])),
                opts=child)
            target = aws.appautoscaling.Target(
                f"{name}-scaling-target", service_namespace="sagemaker",
                resource_id=endpoint.name.apply(lambda e: f"endpoint/{e}/variant/{VARIANT}"),
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=cfg.instance_count, max_capacity=max(cfg.max_instance_count, cfg.instance_count),
                opts=child)
            aws.appautoscaling.Policy(
                f"{name}-scaling-policy", policy_type="TargetTrackingScaling", service_namespace="sagemaker",
                resource_id=target.resource_id, scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=aws.appautoscaling
                .PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=float(cfg.invocations_per_instance), scale_in_cooldown=300, scale_out_cooldown=60,
                    predefined_metric_specification=aws.appautoscaling
                    .PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="SageMakerVariantInvocationsPerInstance")),
                opts=child)

            # The routing canary's controller (infra/components/canary.py): the loop deploys a challenger as a
            # canary in the routing record, this scheduled Lambda promotes it or rolls it back.
            self.canary_controller = add_canary_controller(self, f"{name}-canary", CanaryControllerArgs(
                names=n, region=args.region, account_id=args.account_id, kms_key_arn=args.kms_key_arn,
                partition=args.partition, schedule=cfg.canary_schedule, canary_config=canary_config(cfg),
                runtime=args.lambda_runtime, powertools_layer_version=args.powertools_layer_version,
                log_retention_days=args.log_retention_days))

            if cfg.gpu_instance_type:
                gpu_model = aws.sagemaker.Model(
                    f"{name}-gpu-model", execution_role_arn=role.arn, vpc_config=vpc, tags=tags,
                    primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                        image=image, mode="SingleModel", model_data_url=f"s3://{bucket}/{cfg.gpu_model_key}",
                        environment={"FLYWHEEL_PROJECT": n.project, "FLYWHEEL_STACK": n.stack,
                                     "SAGEMAKER_MULTI_MODEL": "false"}),
                    opts=after_policy)
                # No kms_key_arn: GPU instances keep the model on NVMe instance storage, which AWS
                # encrypts in hardware and which does not accept a KMS key.
                gpu_config = aws.sagemaker.EndpointConfiguration(
                    f"{name}-gpu-config", tags=tags,
                    production_variants=[aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                        variant_name=VARIANT, model_name=gpu_model.name, instance_type=cfg.gpu_instance_type,
                        initial_instance_count=1)],
                    opts=child)
                aws.sagemaker.Endpoint(f"{name}-gpu-endpoint", name=endpoints[1],
                                       endpoint_config_name=gpu_config.name, tags=tags, opts=child)

        self.register_outputs({"endpoint_name": self.endpoint_name, "role_arn": role.arn})
