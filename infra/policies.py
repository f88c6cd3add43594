"""IAM and bucket policy documents, tags and derived names, as plain functions of strings.

Every document here is a dict, built from ARNs the caller already knows, so tests read and lint them
(parliament) without Pulumi or AWS. Components wrap them in `Output.all(...).apply(json.dumps)`.
The only `"Resource": "*"` statements are for actions that have no resource-level permissions at all
(`ecr:GetAuthorizationToken`, X-Ray's `PutTraceSegments`, `cloudwatch:PutMetricData` — the last one
narrowed by a namespace condition); `STAR_ONLY_ACTIONS` lists them and a test keeps it honest.
"""

from __future__ import annotations

from flywheel.names import StackNames

VERSION = "2012-10-17"

# Actions AWS authorises only on "*" (no resource-level permissions exist for them).
STAR_ONLY_ACTIONS = frozenset({
    "ecr:GetAuthorizationToken",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "logs:DescribeLogGroups",
})

# Lake prefixes outside the data zones (names.ZONES): the pipeline's code, its outputs, endpoint capture.
CODE_PREFIX = "code/"
TRAINING_PREFIX = "training/"
CAPTURE_PREFIX = "raw/endpoint-capture/"


def tags(names: StackNames, layer: str) -> dict[str, str]:
    return {"flywheel:project": names.project, "flywheel:stack": names.stack, "flywheel:layer": layer,
            "managed-by": "pulumi"}


def physical_name(names: StackNames, role: str, limit: int = 64) -> str:
    """`<project>-<stack>-<role>` cut to AWS's length limit for the resource kind (64 for most)."""
    return f"{names.prefix}-{role}"[:limit]


def alarm_name(names: StackNames, role: str) -> str:
    """Alarm names are known before the alarms exist, so a layer can refer to one by name only."""
    return physical_name(names, f"alarm-{role}", 255)


def statement(effect: str, actions: list[str], resources: list[str] | str, sid: str | None = None,
              condition: dict | None = None) -> dict:
    doc = {"Effect": effect, "Action": sorted(set(actions)),
           "Resource": resources if isinstance(resources, str) else list(resources)}
    if sid:
        doc["Sid"] = sid
    if condition:
        doc["Condition"] = condition
    return doc


def document(*statements: dict) -> dict:
    return {"Version": VERSION, "Statement": list(statements)}


def assume_role(service: str, account_id: str | None = None) -> dict:
    """Trust policy for one service; with an account, only on behalf of that account (confused deputy)."""
    st = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if account_id:
        st["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document(st)


def tls_only_bucket_policy(bucket_arn: str) -> dict:
    """Deny any request not over TLS (FSBP S3.5). AWS's S3 endpoints refuse TLS below 1.2 themselves
    (since 2024), so no `s3:TlsVersion` statement is needed."""
    return document(
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    )


def kms_key_policy(account_id: str, region: str, partition: str = "aws") -> dict:
    """The account administers the key through IAM; CloudWatch Logs and CloudWatch (for the encrypted
    SNS topic of alarms) may use it. In a key policy "Resource": "*" means this key only."""
    root = f"arn:{partition}:iam::{account_id}:root"
    return document(
        {"Sid": "AccountAdministersThroughIam", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchLogs", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext"],
         "Resource": "*",
         # The encryption context is a string-typed key: StringLike, not ArnLike (parliament checks).
         "Condition": {"StringLike": {"kms:EncryptionContext:aws:logs:arn":
                                   f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}}},
        {"Sid": "CloudWatchAlarmsToEncryptedTopic", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    )


def _kms_use(kms_key_arn: str) -> dict:
    return statement("Allow", ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], [kms_key_arn],
                     sid="UseLakeKey")


def _ecr_pull(repository_arns: list[str]) -> list[dict]:
    return [
        statement("Allow", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                  repository_arns, sid="PullImages"),
        statement("Allow", ["ecr:GetAuthorizationToken"], "*", sid="EcrLogin"),
    ]


def _put_metrics(namespaces: list[str]) -> dict:
    return statement("Allow", ["cloudwatch:PutMetricData"], "*", sid="PutMetricsInOwnNamespaces",
                     condition={"StringLike": {"cloudwatch:namespace": namespaces}})


def _objects(bucket_arn: str, prefixes: list[str]) -> list[str]:
    return [f"{bucket_arn}/{p}*" for p in prefixes]


def _list_prefixes(bucket_arn: str, prefixes: list[str], sid: str) -> dict:
    return statement("Allow", ["s3:ListBucket"], [bucket_arn], sid=sid,
                     condition={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}})


def sagemaker_execution_policy(*, bucket_arn: str, kms_key_arn: str, repository_arns: list[str],
                               model_package_group_arn: str, role_arn: str, region: str, account_id: str,
                               job_prefix: str, network: bool = False, partition: str = "aws") -> dict:
    """The continuous-training pipeline and its jobs: read the lake's inputs, write shards and training
    output, pull the images, create its own jobs and register into its own model package group."""
    read = ["raw/", "curated/", "preferences/", "shards/", CODE_PREFIX, TRAINING_PREFIX]
    write = ["shards/", TRAINING_PREFIX]
    arn = f"arn:{partition}:sagemaker:{region}:{account_id}"
    group_name = model_package_group_arn.rsplit("/", 1)[-1]
    statements = [
        _list_prefixes(bucket_arn, read, "ListLakeInputs"),
        statement("Allow", ["s3:GetObject"], _objects(bucket_arn, read), sid="ReadLakeInputs"),
        statement("Allow", ["s3:PutObject", "s3:AbortMultipartUpload"], _objects(bucket_arn, write),
                  sid="WriteShardsAndTrainingOutput"),
        _kms_use(kms_key_arn),
        statement("Allow", ["kms:CreateGrant"], [kms_key_arn], sid="EncryptJobVolumes",
                  condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        *_ecr_pull(repository_arns),
        statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                            "logs:DescribeLogStreams"],
                  [f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/sagemaker/*"], sid="JobLogs"),
        _put_metrics(["/aws/sagemaker/*", StackNames().metrics_namespace]),
        statement("Allow", ["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob",
                            "sagemaker:DescribeProcessingJob", "sagemaker:DescribeTrainingJob",
                            "sagemaker:StopProcessingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
                  [f"{arn}:processing-job/{job_prefix}*", f"{arn}:training-job/pipelines-*",
                   f"{arn}:processing-job/pipelines-*", f"{arn}:training-job/{job_prefix}*"],
                  sid="RunPipelineJobs"),
        statement("Allow", ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage",
                            "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages",
                            "sagemaker:AddTags"],
                  [model_package_group_arn, f"{arn}:model-package/{group_name}/*"], sid="RegisterCandidates"),
        statement("Allow", ["iam:PassRole"], [role_arn], sid="PassOwnRoleToJobs",
                  condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
    ]
    if network:
        statements += _vpc_access(region, account_id, partition)
    return document(*statements)


def _vpc_access(region: str, account_id: str, partition: str) -> list[dict]:
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    return [
        statement("Allow", ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                            "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
                  [f"{ec2}:network-interface/*", f"{ec2}:subnet/*", f"{ec2}:security-group/*"],
                  sid="JobNetworkInterfaces"),
        statement("Allow", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], "*", sid="DescribeNetwork"),
    ]


def serving_policy(*, bucket_arn: str, kms_key_arn: str, repository_arn: str, region: str, account_id: str,
                   endpoint_prefix: str, network: bool = False, partition: str = "aws") -> dict:
    """The endpoint: read models, write data capture, pull the inference image, log and emit metrics."""
    return document(
        _list_prefixes(bucket_arn, ["models/"], "ListModels"),
        statement("Allow", ["s3:GetObject"], _objects(bucket_arn, ["models/"]), sid="ReadModels"),
        statement("Allow", ["s3:PutObject"], _objects(bucket_arn, [CAPTURE_PREFIX]), sid="WriteDataCapture"),
        _kms_use(kms_key_arn),
        *_ecr_pull([repository_arn]),
        statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                  [(f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/sagemaker/Endpoints/"
                   f"{endpoint_prefix}*")], sid="EndpointLogs"),
        _put_metrics(["/aws/sagemaker/*", StackNames().metrics_namespace]),
        *(_vpc_access(region, account_id, partition) if network else []),
    )


def lambda_policy(*, log_group_arn: str, dead_letter_queue_arn: str, kms_key_arn: str,
                  tables: dict[str, list[str]] | None = None, endpoint_arns: list[str] | None = None,
                  firehose_arns: list[str] | None = None, model_package_group_arn: str | None = None,
                  metrics_namespace: str = StackNames().metrics_namespace) -> dict:
    """One function's own grants: its log group, its dead-letter queue, tracing, metrics in Flywheel's
    namespace, and only the tables / endpoint / streams it names. `tables` maps ARN -> actions."""
    statements = [
        statement("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"], sid="OwnLogs"),
        statement("Allow", ["sqs:SendMessage"], [dead_letter_queue_arn], sid="OwnDeadLetterQueue"),
        statement("Allow", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*", sid="Tracing"),
        _put_metrics([metrics_namespace]),
        _kms_use(kms_key_arn),
    ]
    for i, (table_arn, actions) in enumerate(sorted((tables or {}).items())):
        statements.append(statement("Allow", actions, [table_arn, f"{table_arn}/index/*"], sid=f"Table{i}"))
    if endpoint_arns:
        statements.append(statement("Allow", ["sagemaker:InvokeEndpoint",
                                              "sagemaker:InvokeEndpointWithResponseStream"],
                                    endpoint_arns, sid="InvokeEndpoint"))
    if firehose_arns:
        statements.append(statement("Allow", ["firehose:PutRecord", "firehose:PutRecordBatch"], firehose_arns,
                                    sid="DeliverToLake"))
    if model_package_group_arn:
        group = model_package_group_arn.rsplit("/", 1)[-1]
        base = model_package_group_arn.split(":model-package-group/")[0]
        statements.append(statement("Allow", ["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
                                    [model_package_group_arn, f"{base}:model-package/{group}/*"],
                                    sid="ReadRegistry"))
    return document(*statements)


READ_ITEMS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]
WRITE_ITEMS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


def firehose_policy(*, bucket_arn: str, prefix: str, kms_key_arn: str, log_group_arn: str) -> dict:
    """A delivery stream: write its own prefix (and its error prefix), log delivery errors."""
    return document(
        statement("Allow", ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                  [bucket_arn], sid="LakeBucket"),
        statement("Allow", ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                  _objects(bucket_arn, [prefix, f"errors/{prefix}"]), sid="OwnZone"),
        _kms_use(kms_key_arn),
        statement("Allow", ["logs:PutLogEvents"], [f"{log_group_arn}:*"], sid="DeliveryErrors"),
    )


def crawler_policy(*, bucket_arn: str, kms_key_arn: str, glue_arns: list[str], region: str,
                   account_id: str, partition: str = "aws") -> dict:
    """The raw-zone crawler: read raw text, keep its tables in the stack's database, log."""
    return document(
        _list_prefixes(bucket_arn, ["raw/"], "ListRaw"),
        statement("Allow", ["s3:GetObject"], _objects(bucket_arn, ["raw/"]), sid="ReadRaw"),
        _kms_use(kms_key_arn),
        statement("Allow", ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
                            "glue:UpdateTable", "glue:BatchGetPartition", "glue:BatchCreatePartition",
                            "glue:GetPartition", "glue:GetPartitions", "glue:UpdatePartition"],
                  glue_arns, sid="OwnCatalog"),
        statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws-glue/crawlers*"], sid="CrawlerLogs"),
    )


def start_pipeline_policy(pipeline_arn: str, kms_key_arn: str) -> dict:
    """For EventBridge Scheduler and EventBridge rules: start this one pipeline, nothing else (and read
    the schedule, which is encrypted with the stack's key)."""
    return document(
        statement("Allow", ["sagemaker:StartPipelineExecution"], [pipeline_arn], sid="StartContinuousTraining"),
        statement("Allow", ["kms:Decrypt"], [kms_key_arn], sid="ReadEncryptedSchedule"))


def api_gateway_logs_policy(region: str, account_id: str, partition: str = "aws") -> dict:
    """API Gateway's account-wide role for execution and access logs (what the AWS-managed
    AmazonAPIGatewayPushToCloudWatchLogs grants, on this account's log groups only)."""
    return document(
        statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                            "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"],
                  [f"arn:{partition}:logs:{region}:{account_id}:log-group:*"], sid="ApiGatewayLogs"),
        statement("Allow", ["logs:DescribeLogGroups"], "*", sid="FindLogGroups"))
