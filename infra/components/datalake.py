"""DataLake: the KMS key, the lake bucket with its zones, the Glue catalog, Athena, and Firehose streams.

One bucket per stack, zones as prefixes (names.ZONES). The bucket is SSE-KMS with a bucket key, blocks
public access, enforces bucket-owner ownership (no ACLs), keeps versions, denies non-TLS requests and
ages data per zone. The Glue tables and the Firehose prefixes come from `flywheel.data.schemas`, the
layout the local stack and the writers use: each table is a Parquet dataset under `<zone>/<table>/`
that awswrangler writes (and may widen: Pulumi ignores column drift for that reason), and Firehose lands
the API's raw JSON records beside it under `<zone>/events/`, compressed, partitioned by day.

What it does not know: who reads or writes the zones (the other layers get the ARNs as outputs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flywheel.data.schemas import FIREHOSE_ZONES, SCHEMAS, events_prefix, glue_table_input
from flywheel.names import StackNames
from infra import policies


def lifecycle_rules(lake) -> list[dict]:
    """Per-zone ageing as plain dicts (unit-tested); `lake` is a LakeConfig."""
    rules = [
        {"id": "all-noncurrent-versions", "prefix": "",
         "noncurrent_days": lake.noncurrent_expiration_days, "abort_multipart_days": 7},
        {"id": "raw-to-infrequent-access", "prefix": "raw/", "transition_days": lake.raw_transition_days,
         "storage_class": "STANDARD_IA"},
        {"id": "endpoint-capture-expiry", "prefix": policies.CAPTURE_PREFIX,
         "expiration_days": lake.capture_expiration_days},
        {"id": "training-checkpoints-expiry", "prefix": f"{policies.TRAINING_PREFIX}checkpoints/",
         "expiration_days": lake.checkpoint_expiration_days},
        {"id": "shards-to-infrequent-access", "prefix": "shards/", "transition_days": 30,
         "storage_class": "STANDARD_IA"},
    ]
    return rules


@dataclass(frozen=True)
class DataLakeArgs:
    names: StackNames
    lake: object  # config.LakeConfig
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str] = "aws"


class DataLake(pulumi.ComponentResource):
    """The lake: key, bucket, catalog, query workgroup, and the two delivery streams."""

    kms_key_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    glue_database: pulumi.Output[str]
    athena_workgroup: pulumi.Output[str]
    firehose_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:datalake:DataLake", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n, tags = args.names, policies.tags(args.names, "data")

        key = aws.kms.Key(
            f"{name}-key", description=f"{n.prefix}: lake, tables, logs, images, volumes",
            enable_key_rotation=True, deletion_window_in_days=30, tags=tags,
            policy=pulumi.Output.all(args.account_id, args.partition).apply(
                lambda v: json.dumps(policies.kms_key_policy(v[0], args.region, v[1]))),
            opts=child)
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{n.prefix}", target_key_id=key.key_id, opts=child)

        bucket = aws.s3.Bucket(f"{name}-bucket", bucket=n.bucket, force_destroy=args.lake.force_destroy,
                               tags=tags, opts=child)
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child)
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3
                .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=key.arn),
                bucket_key_enabled=True)],  # one KMS call per bucket key, not per object
            opts=child)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child)
        aws.s3.BucketPolicy(
            f"{name}-tls-only", bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(policies.tls_only_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]))
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id,
            rules=[_lifecycle_rule(r) for r in lifecycle_rules(args.lake)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]))

        database = aws.glue.CatalogDatabase(f"{name}-database", name=n.glue_database,
                                            description=f"{n.prefix} lake tables", opts=child)
        for zone in SCHEMAS:
            self._table(name, n, zone, database)

        glue_arns = pulumi.Output.all(args.partition, args.account_id, database.name).apply(
            lambda v: [f"arn:{v[0]}:glue:{args.region}:{v[1]}:catalog",
                       f"arn:{v[0]}:glue:{args.region}:{v[1]}:database/{v[2]}",
                       f"arn:{v[0]}:glue:{args.region}:{v[1]}:table/{v[2]}/*"])

        crawler_role = aws.iam.Role(
            f"{name}-crawler-role", tags=tags,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(policies.assume_role("glue.amazonaws.com", a))), opts=child)
        aws.iam.RolePolicy(
            f"{name}-crawler-policy", role=crawler_role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn, glue_arns, args.account_id, args.partition).apply(
                lambda v: json.dumps(policies.crawler_policy(
                    bucket_arn=v[0], kms_key_arn=v[1], glue_arns=v[2], region=args.region, account_id=v[3],
                    partition=v[4]))),
            opts=child)
        crawler_security = aws.glue.SecurityConfiguration(
            f"{name}-crawler-security", name=policies.physical_name(n, "crawler-security", 128),
            encryption_configuration=aws.glue.SecurityConfigurationEncryptionConfigurationArgs(
                cloudwatch_encryption=aws.glue.SecurityConfigurationEncryptionConfigurationCloudwatchEncryptionArgs(
                    cloudwatch_encryption_mode="SSE-KMS", kms_key_arn=key.arn),
                job_bookmarks_encryption=aws.glue
                .SecurityConfigurationEncryptionConfigurationJobBookmarksEncryptionArgs(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.arn),
                s3_encryption=aws.glue.SecurityConfigurationEncryptionConfigurationS3EncryptionArgs(
                    s3_encryption_mode="SSE-KMS", kms_key_arn=key.arn)),
            opts=child)
        aws.glue.Crawler(
            f"{name}-raw-crawler", name=policies.physical_name(n, "raw-crawler", 255), database_name=database.name,
            role=crawler_role.arn, table_prefix="raw_", security_configuration=crawler_security.name,
            s3_targets=[aws.glue.CrawlerS3TargetArgs(
                path=n.zone_uri("raw"), exclusions=[f"{policies.CAPTURE_PREFIX.removeprefix('raw/')}**"])],
            schedule="cron(0 3 * * ? *)", tags=tags, opts=child)

        aws.athena.Workgroup(
            f"{name}-athena", name=policies.physical_name(n, "lake", 128), force_destroy=args.lake.force_destroy,
            configuration=aws.athena.WorkgroupConfigurationArgs(
                enforce_workgroup_configuration=True, publish_cloudwatch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=10 * 1024**3,
                result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=f"s3://{n.bucket}/athena-results/",
                    encryption_configuration=aws.athena
                    .WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_KMS", kms_key_arn=key.arn))),
            tags=tags, opts=child)

        self.firehose_arns = {}
        for zone in FIREHOSE_ZONES:
            self.firehose_arns[zone] = self._firehose(name, args, zone, bucket, key, tags, child)

        self.kms_key_arn = key.arn
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.glue_database = database.name
        self.athena_workgroup = pulumi.Output.from_input(policies.physical_name(n, "lake", 128))
        self.register_outputs({"kms_key_arn": key.arn, "bucket_name": bucket.bucket, "bucket_arn": bucket.arn,
                               "glue_database": database.name, **{f"firehose_{z}": a for z, a in
                                                                  self.firehose_arns.items()}})

    def _table(self, name: str, n: StackNames, zone: str, database) -> aws.glue.CatalogTable:
        spec = glue_table_input(n, zone)  # the same TableInput the local stack creates
        sd = spec["StorageDescriptor"]
        return aws.glue.CatalogTable(
            f"{name}-table-{zone}", name=spec["Name"], database_name=database.name, table_type=spec["TableType"],
            parameters=spec["Parameters"],
            partition_keys=[aws.glue.CatalogTablePartitionKeyArgs(name=k["Name"], type=k["Type"])
                            for k in spec["PartitionKeys"]],
            storage_descriptor=aws.glue.CatalogTableStorageDescriptorArgs(
                location=sd["Location"], input_format=sd["InputFormat"], output_format=sd["OutputFormat"],
                compressed=sd["Compressed"], stored_as_sub_directories=sd["StoredAsSubDirectories"],
                ser_de_info=aws.glue.CatalogTableStorageDescriptorSerDeInfoArgs(
                    serialization_library=sd["SerdeInfo"]["SerializationLibrary"],
                    parameters=sd["SerdeInfo"]["Parameters"]),
                columns=[aws.glue.CatalogTableStorageDescriptorColumnArgs(name=c["Name"], type=c["Type"])
                         for c in sd["Columns"]]),
            # awswrangler widens the schema as writers add columns.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["storage_descriptor", "parameters"]))

    def _firehose(self, name, args: DataLakeArgs, zone, bucket, key, tags, child):
        n = args.names
        stream_name = n.firehose_interactions if zone == "interactions" else n.firehose_feedback
        prefix = events_prefix(n, zone)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-firehose-{zone}-logs", name=f"/aws/kinesisfirehose/{stream_name}",
            retention_in_days=args.lake.log_retention_days,
            kms_key_id=key.arn, tags=tags, opts=child)
        role = aws.iam.Role(
            f"{name}-firehose-{zone}-role", tags=tags,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(policies.assume_role("firehose.amazonaws.com", a))), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-firehose-{zone}-policy", role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn, log_group.arn).apply(
                lambda v: json.dumps(policies.firehose_policy(
                    bucket_arn=v[0], prefix=prefix, kms_key_arn=v[1], log_group_arn=v[2]))),
            opts=child)
        stream = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-firehose-{zone}", name=stream_name, destination="extended_s3",
            server_side_encryption=aws.kinesis.FirehoseDeliveryStreamServerSideEncryptionArgs(
                enabled=True, key_type="CUSTOMER_MANAGED_CMK", key_arn=key.arn),
            extended_s3_configuration=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs(
                bucket_arn=bucket.arn, role_arn=role.arn, kms_key_arn=key.arn, compression_format="GZIP",
                prefix=f"{prefix}dt=!{{timestamp:yyyy-MM-dd}}/",
                error_output_prefix=f"errors/{prefix}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
                buffering_size=5, buffering_interval=60,  # MB, seconds: records reach the lake within a minute
                cloudwatch_logging_options=aws.kinesis
                .FirehoseDeliveryStreamExtendedS3ConfigurationCloudwatchLoggingOptionsArgs(
                    enabled=True, log_group_name=log_group.name, log_stream_name="delivery")),
            tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        return stream.arn


def _lifecycle_rule(rule: dict) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    kwargs = {"id": rule["id"], "status": "Enabled",
              "filter": aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=rule["prefix"])}
    if "noncurrent_days" in rule:
        kwargs["noncurrent_version_expiration"] = \
            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=rule["noncurrent_days"])
    if "abort_multipart_days" in rule:
        kwargs["abort_incomplete_multipart_upload"] = \
            aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=rule["abort_multipart_days"])
    if "transition_days" in rule:
        kwargs["transitions"] = [aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
            days=rule["transition_days"], storage_class=rule["storage_class"])]
    if "expiration_days" in rule:
        kwargs["expiration"] = aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=rule["expiration_days"])
    return aws.s3.BucketLifecycleConfigurationRuleArgs(**kwargs)
