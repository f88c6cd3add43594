"""The Flywheel Pulumi program: one component per layer, composed, and the stack's outputs.

    pulumi stack init dev && pulumi config set aws:region us-east-1 && pulumi up     # README.md, "Deploy to AWS"
    make plan                                                                          # offline, mocks

Order follows the data: the lake and its key first; the registry; the optional network; serving (its
endpoint name is what the API calls); training (started by the alarms Observability owns, known by
name); the API; observability last, reading the API's log groups. Layers get each other's outputs as
arguments. Only this file exports.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # Pulumi runs infra/ as the program directory
    sys.path.insert(0, str(ROOT))

import pulumi
import pulumi_aws as aws

from infra import config
from infra.components.api import Api, ApiArgs
from infra.components.datalake import DataLake, DataLakeArgs
from infra.components.network import Network, NetworkArgs
from infra.components.observability import (
    EmfForwarderArgs,
    Observability,
    ObservabilityArgs,
    drift_alarm_name,
)
from infra.components.registry import Registry, RegistryArgs
from infra.components.serving import Serving, ServingArgs
from infra.components.training import Training, TrainingArgs

cfg = config.load()
names = cfg.names
account_id = aws.get_caller_identity_output().account_id
partition = aws.get_partition_output().partition

lake = DataLake("lake", DataLakeArgs(names=names, lake=cfg.lake, region=cfg.region, account_id=account_id,
                                     partition=partition))
registry = Registry("registry", RegistryArgs(names=names, kms_key_arn=lake.kms_key_arn,
                                             force_delete=cfg.lake.force_destroy))
network = Network("network", NetworkArgs(
    names=names, region=cfg.region, cidr=cfg.network.cidr, az_count=cfg.network.az_count,
    kms_key_arn=lake.kms_key_arn, log_retention_days=cfg.lake.log_retention_days)) if cfg.network.enabled else None
vpc = {"subnet_ids": network.subnet_ids, "security_group_id": network.security_group_id} if network else {}

serving = Serving("serving", ServingArgs(
    names=names, region=cfg.region, serving=cfg.serving, account_id=account_id, partition=partition,
    bucket_arn=lake.bucket_arn, kms_key_arn=lake.kms_key_arn,
    inference_repository_arn=registry.repository_arns["inference"],
    inference_repository_url=registry.repository_urls["inference"], lambda_runtime=cfg.api.runtime,
    powertools_layer_version=cfg.api.powertools_layer_version, log_retention_days=cfg.lake.log_retention_days, **vpc))

training = Training("training", TrainingArgs(
    names=names, region=cfg.region, training=cfg.training, account_id=account_id, partition=partition,
    bucket_name=lake.bucket_name, bucket_arn=lake.bucket_arn, kms_key_arn=lake.kms_key_arn,
    training_repository_arn=registry.repository_arns["training"],
    training_repository_url=registry.repository_urls["training"],
    inference_repository_arn=registry.repository_arns["inference"],
    inference_repository_url=registry.repository_urls["inference"],
    drift_alarm_name=drift_alarm_name(names),
    subnet_count=cfg.network.az_count if network else 0, **vpc))

api = Api("api", ApiArgs(
    names=names, region=cfg.region, api=cfg.api, account_id=account_id, partition=partition,
    kms_key_arn=lake.kms_key_arn, endpoint_arns=serving.endpoint_arns, firehose_arns=lake.firehose_arns,
    model_package_group_arn=training.model_package_group_arn, deletion_protection=not cfg.lake.force_destroy))

observability = Observability("observability", ObservabilityArgs(
    names=names, region=cfg.region, observability=cfg.observability, kms_key_arn=lake.kms_key_arn,
    log_group_names=api.log_group_names,
    forwarder=EmfForwarderArgs(account_id=account_id, runtime=cfg.api.runtime,
                               powertools_layer_version=cfg.api.powertools_layer_version,
                               log_retention_days=cfg.lake.log_retention_days)))

pulumi.export("apiUrl", api.url)
pulumi.export("openaiBaseUrl", api.url.apply(lambda url: f"{url}/v1"))
pulumi.export("apiKeyId", api.api_key_id)
pulumi.export("apiKey", api.api_key_value)
pulumi.export("lakeBucket", lake.bucket_name)
pulumi.export("glueDatabase", lake.glue_database)
pulumi.export("routingTable", api.table_names["routing"])
pulumi.export("trainingRepositoryUrl", registry.repository_urls["training"])
pulumi.export("inferenceRepositoryUrl", registry.repository_urls["inference"])
pulumi.export("endpointName", serving.endpoint_name)
pulumi.export("pipelineName", training.pipeline_name)
pulumi.export("modelPackageGroup", training.model_package_group_name)
pulumi.export("alarmTopicArn", observability.topic_arn)
pulumi.export("dashboardUrl", observability.dashboard_name.apply(
    lambda d: f"https://{cfg.region}.console.aws.amazon.com/cloudwatch/home?region={cfg.region}#dashboards:name={d}"))
