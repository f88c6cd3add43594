"""Each layer's component alone under Pulumi's mocks, built from plain inputs (as another layer's
outputs would arrive). Run: .venv/bin/python -m pytest -q tests/infra/test_components.py"""

from __future__ import annotations

import json

from flywheel.names import StackNames
from infra import config
from infra.mocks import run

NAMES = StackNames(project="flywheel", stack="dev")
ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
BUCKET = "arn:aws:s3:::flywheel-dev-lake"
TRAIN_REPO = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/flywheel-dev-training"
INFER_REPO = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/flywheel-dev-inference"
URL = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/flywheel-dev-"


def _alone(build):
    result = run(build)
    components = [r for r in result.resources if r.typ.startswith("flywheel:")]
    assert len(components) == 1
    return result, [r for r in result.resources if not r.typ.startswith("flywheel:")]


def test_datalake_alone():
    from infra.components.datalake import DataLake, DataLakeArgs

    result, children = _alone(lambda: DataLake("lake", DataLakeArgs(
        names=NAMES, lake=config.LakeConfig(), region="us-east-1", account_id=ACCOUNT)))
    assert all(r.layer == "datalake" for r in children)
    assert len(result.of_type("aws:glue/catalogTable:CatalogTable")) == 4
    prefixes = {s.inputs["extendedS3Configuration"]["prefix"].split("dt=")[0]
                for s in result.of_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")}
    assert prefixes == {"interactions/events/", "feedback/events/"}  # flywheel.data.schemas.events_prefix


def test_registry_alone():
    from infra.components.registry import Registry, RegistryArgs

    result, _children = _alone(lambda: Registry("registry", RegistryArgs(names=NAMES, kms_key_arn=KEY)))
    assert {r.inputs["name"] for r in result.of_type("aws:ecr/repository:Repository")} == {
        "flywheel-dev-training", "flywheel-dev-inference"}


def test_network_alone():
    from infra.components.network import Network, NetworkArgs

    result, _ = _alone(lambda: Network("network", NetworkArgs(
        names=NAMES, region="us-east-1", cidr="10.42.0.0/16", az_count=3, kms_key_arn=KEY)))
    assert len(result.of_type("aws:ec2/subnet:Subnet")) == 3
    services = {e.inputs["serviceName"].rsplit(".", 1)[-1] for e in result.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert {"s3", "dynamodb", "runtime", "api", "dkr", "logs", "kms"} <= services


def test_training_alone():
    from infra.components.training import Training, TrainingArgs

    result, _ = _alone(lambda: Training("training", TrainingArgs(
        names=NAMES, region="us-east-1", training=config.TrainingConfig(), account_id=ACCOUNT, bucket_name=NAMES.bucket, bucket_arn=BUCKET,
        kms_key_arn=KEY, training_repository_arn=TRAIN_REPO, training_repository_url=URL + "training",
        inference_repository_arn=INFER_REPO, inference_repository_url=URL + "inference",
        drift_alarm_name="flywheel-dev-alarm-drift")))
    definition = json.loads(result.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["PrepareData", "Train", "Evaluate", "Gate"]
    assert definition["Steps"][3]["Arguments"]["IfSteps"][0]["Type"] == "RegisterModel"
    train = definition["Steps"][1]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == URL + "training:v1"
    assert {d["Name"] for d in train["AlgorithmSpecification"]["MetricDefinitions"]} == {
        "train_loss", "val_loss", "tokens_per_sec"}
    assert "flywheel-token" not in json.dumps(definition)


def test_serving_alone_waits_for_the_image_then_deploys():
    from infra.components.serving import Serving, ServingArgs

    def build(serving):
        return lambda: Serving("serving", ServingArgs(
            names=NAMES, region="us-east-1", serving=serving, account_id=ACCOUNT, bucket_arn=BUCKET, kms_key_arn=KEY,
            inference_repository_arn=INFER_REPO, inference_repository_url=URL + "inference"))

    _idle, children = _alone(build(config.ServingConfig()))
    assert [r.typ for r in children] == ["aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"]
    live, _ = _alone(build(config.ServingConfig(deploy_endpoint=True)))
    model = live.one("aws:sagemaker/model:Model").inputs["primaryContainer"]
    assert model["image"] == URL + "inference:v1" and model["mode"] == "MultiModel"
    assert live.one("aws:sagemaker/endpoint:Endpoint").inputs["name"] == NAMES.endpoint


def test_api_alone():
    from infra.components.api import Api, ApiArgs

    result, _ = _alone(lambda: Api("api", ApiArgs(
        names=NAMES, region="us-east-1", api=config.ApiConfig(), account_id=ACCOUNT, kms_key_arn=KEY,
        endpoint_arns=[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/flywheel-dev-endpoint"],
        firehose_arns={z: f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/flywheel-dev-{z}"
                       for z in ("interactions", "feedback")},
        model_package_group_arn=f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package-group/flywheel-dev-models")))
    chat_policy = json.loads(result.one("aws:iam/rolePolicy:RolePolicy", "api-chat-policy").inputs["policy"])
    actions = {a for st in chat_policy["Statement"] for a in st["Action"]}
    assert "sagemaker:InvokeEndpoint" in actions and "firehose:PutRecord" in actions
    moderation = json.loads(result.one("aws:iam/rolePolicy:RolePolicy", "api-moderation-policy").inputs["policy"])
    assert not {a for st in moderation["Statement"] for a in st["Action"]} & {"sagemaker:InvokeEndpoint",
                                                                               "dynamodb:PutItem"}


def test_observability_alone():
    from infra.components.observability import Observability, ObservabilityArgs

    result, _ = _alone(lambda: Observability("observability", ObservabilityArgs(
        names=NAMES, region="us-east-1", observability=config.ObservabilityConfig(), kms_key_arn=KEY,
        log_group_names={"chat": "/aws/lambda/flywheel-dev-api-chat"})))
    assert len(result.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) == 7
    body = json.loads(result.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == 7
