"""The local stack on a real moto server: every resource the Pulumi program creates, created once."""

from __future__ import annotations

import json
import os

from flywheel.data.schemas import table_location
from flywheel.names import DYNAMO_TABLES, TABLES


def test_environment_points_at_the_server(moto_stack):
    assert os.environ["AWS_ENDPOINT_URL"] == moto_stack.endpoint_url
    assert moto_stack.endpoint_url.startswith("http://127.0.0.1:")
    assert os.environ["FLYWHEEL_STACK"] == "test"


def test_resources_exist_with_shared_names(moto_stack):
    import boto3

    names = moto_stack.names
    assert names.bucket in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    glue = boto3.client("glue")
    for zone in TABLES:
        table = glue.get_table(DatabaseName=names.glue_database, Name=names.table(zone))["Table"]
        assert table["StorageDescriptor"]["Location"] == table_location(names, zone)
        assert table["PartitionKeys"], zone
    tables = set(boto3.client("dynamodb").list_tables()["TableNames"])
    assert {names.dynamo_table(role) for role in DYNAMO_TABLES} <= tables
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=names.dynamo_table("response_cache"))
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    group = boto3.client("sagemaker").describe_model_package_group(ModelPackageGroupName=names.model_package_group)
    assert group["ModelPackageGroupName"] == names.model_package_group


def test_resource_creation_is_idempotent(moto_stack):
    assert moto_stack.ensure_resources() == {"s3": [], "glue": [], "dynamodb": [], "sagemaker": [],
                                             "firehose": []}


def test_firehose_delivers_into_its_zone(moto_stack):
    import boto3

    names = moto_stack.names
    boto3.client("firehose").put_record(DeliveryStreamName=names.firehose_feedback,
                                        Record={"Data": json.dumps({"completion_id": "c1"}).encode() + b"\n"})
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket=names.bucket, Prefix="feedback/events/").get("Contents", [])]
    assert keys
    body = boto3.client("s3").get_object(Bucket=names.bucket, Key=keys[-1])["Body"].read()
    assert json.loads(body) == {"completion_id": "c1"}


def test_stop_restores_environment():
    from flywheel.local.stack import LocalStack
    from flywheel.names import StackNames

    before = os.environ.get("AWS_ENDPOINT_URL")
    stack = LocalStack.start(StackNames(stack="scratch"))
    assert os.environ["AWS_ENDPOINT_URL"] == stack.endpoint_url
    stack.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") == before
    assert not stack.running
