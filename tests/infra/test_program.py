"""The whole program under Pulumi's mocks: with a fresh stack's configuration (only aws:region) and with
every option on. Run: .venv/bin/python -m pytest -q tests/infra/test_program.py"""

from __future__ import annotations

import json

from flywheel.names import DYNAMO_TABLES, StackNames

LAYERS = {"datalake", "registry", "training", "serving", "api", "observability"}


def test_default_stack_builds_every_layer(default_run):
    layers = default_run.by_layer()
    assert set(layers) == LAYERS  # network is optional and off by default
    # each layer is one component with its resources as children
    for layer in LAYERS:
        components = [r for r in layers[layer] if r.typ.startswith("flywheel:")]
        assert len(components) == 1 and components[0].typ.split(":")[1] == layer
        assert len(layers[layer]) > 1
    # the endpoint waits for the image: a fresh stack creates its role but no model or endpoint
    assert not default_run.of_type("aws:sagemaker/endpoint:Endpoint")


def test_physical_names_come_from_stack_names(default_run):
    names = StackNames(project="flywheel", stack="dev")
    assert default_run.one("aws:s3/bucket:Bucket").inputs["bucket"] == names.bucket
    assert default_run.one("aws:glue/catalogDatabase:CatalogDatabase").inputs["name"] == names.glue_database
    assert {r.inputs["name"] for r in default_run.of_type("aws:dynamodb/table:Table")} == {
        names.dynamo_table(role) for role in DYNAMO_TABLES}
    assert default_run.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineName"] == names.pipeline
    assert default_run.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs[
        "modelPackageGroupName"] == names.model_package_group
    streams = {r.inputs["name"] for r in default_run.of_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")}
    assert streams == {names.firehose_interactions, names.firehose_feedback}


def test_exports_give_a_user_what_docs_deploy_md_uses(default_run):
    exports = default_run.exports
    assert exports["openaiBaseUrl"] == exports["apiUrl"] + "/v1"
    assert exports["apiUrl"].startswith("https://") and exports["apiUrl"].endswith("/prod")
    assert exports["apiKey"] and exports["apiKeyId"]
    assert exports["endpointName"] == "flywheel-dev-endpoint"
    assert exports["routingTable"] == "flywheel-dev-routing"
    assert exports["trainingRepositoryUrl"].endswith("/flywheel-dev-training")
    assert exports["inferenceRepositoryUrl"].endswith("/flywheel-dev-inference")


def test_full_stack_adds_network_endpoints_and_gpu(full_run):
    layers = full_run.by_layer()
    assert set(layers) == LAYERS | {"network"}
    endpoints = {r.inputs["name"] for r in full_run.of_type("aws:sagemaker/endpoint:Endpoint")}
    assert endpoints == {"flywheel-full-endpoint", "flywheel-full-endpoint-gpu"}
    models = {r.name: r.inputs["primaryContainer"] for r in full_run.of_type("aws:sagemaker/model:Model")}
    assert models["serving-mme"]["mode"] == "MultiModel"
    assert models["serving-mme"]["modelDataUrl"] == "s3://flywheel-full-lake/models/"
    assert models["serving-gpu-model"]["mode"] == "SingleModel"
    # the VPC is used by serving and training
    subnet_ids = {r.name + "-id" for r in full_run.of_type("aws:ec2/subnet:Subnet")}
    mme = full_run.one("aws:sagemaker/model:Model", "mme")
    assert set(mme.inputs["vpcConfig"]["subnets"]) == subnet_ids
    definition = json.loads(full_run.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    train = next(s for s in definition["Steps"] if s["Name"] == "Train")
    assert set(train["Arguments"]["VpcConfig"]["Subnets"]) == subnet_ids
    assert "flywheeltoken" not in json.dumps(definition)


def test_serving_deploys_with_canary_rollback_and_autoscaling(full_run):
    endpoint = full_run.one("aws:sagemaker/endpoint:Endpoint", "serving-endpoint")
    policy = endpoint.inputs["deploymentConfig"]
    routing = policy["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY" and routing["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 10}
    rollback = {a["alarmName"] for a in policy["autoRollbackConfiguration"]["alarms"]}
    alarm_names = {r.inputs["name"] for r in full_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert rollback and rollback <= alarm_names
    config = full_run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "serving-config")
    capture = config.inputs["dataCaptureConfig"]
    assert capture["enableCapture"] and capture["destinationS3Uri"].startswith("s3://flywheel-full-lake/raw/")
    assert config.inputs["productionVariants"][0]["instanceType"].startswith("ml.c")  # CPU: BYOC MME
    scaling = full_run.one("aws:appautoscaling/policy:Policy").inputs
    spec = scaling["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]
    assert spec["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


def test_training_is_triggered_three_ways(default_run):
    pipeline_arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/flywheel-dev-continuous-training"
    schedule = default_run.one("aws:scheduler/schedule:Schedule").inputs
    assert schedule["target"]["arn"] == pipeline_arn and schedule["scheduleExpression"] == "rate(7 days)"
    rule = json.loads(default_run.one("aws:cloudwatch/eventRule:EventRule").inputs["eventPattern"])
    assert set(rule["detail"]["alarmName"]) == {"flywheel-dev-alarm-feedback-volume", "flywheel-dev-alarm-drift"}
    assert default_run.one("aws:cloudwatch/eventTarget:EventTarget").inputs["arn"] == pipeline_arn
    alarms = {r.inputs["name"] for r in default_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {"flywheel-dev-alarm-feedback-volume", "flywheel-dev-alarm-drift"} <= alarms


def test_api_routes_require_a_key_and_reach_their_function(default_run):
    methods = default_run.of_type("aws:apigateway/method:Method")
    assert len(methods) == 5
    assert all(m.inputs["apiKeyRequired"] and m.inputs["authorization"] == "CUSTOM" for m in methods)
    rest = default_run.one("aws:apigateway/restApi:RestApi").inputs
    assert rest["apiKeySource"] == "AUTHORIZER"
    integrations = default_run.of_type("aws:apigateway/integration:Integration")
    targets = {i.inputs["uri"].split("function:")[1].split("/")[0] for i in integrations}
    assert targets == {f"flywheel-dev-api-{f}" for f in ("chat", "moderation", "feedback", "models")}


def test_plan_prints_resources_grouped_by_layer(default_run):
    from infra.plan import render

    text = render(default_run, "dev", "us-east-1")
    headers = [line.split(" (")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert headers[1:7] == ["datalake", "registry", "training", "serving", "api", "observability"]
    assert "flywheel-dev-lake" in text and "aws:sagemaker/pipeline:Pipeline" in text
    assert "[secret]" in text and default_run.exports["apiKey"] not in text
    total = sum(1 for r in default_run.resources if not r.typ.startswith("flywheel:"))
    assert f"{total} resources in 6 layers" in text
