"""Security invariants of the whole program (every option on), each named by the AWS Foundational
Security Best Practices (FSBP) control it covers; where FSBP has no control, the reason is given.
Run: .venv/bin/python -m pytest -q tests/infra/test_security.py"""

from __future__ import annotations

import json

import pytest

from infra import policies


def _docs(run):
    """Every IAM document the program declares: (where, kind, parsed document)."""
    found = []
    for r in run.resources:
        if r.typ == "aws:iam/role:Role":
            found.append((r.name, "trust", json.loads(r.inputs["assumeRolePolicy"])))
        elif r.typ == "aws:iam/rolePolicy:RolePolicy":
            found.append((r.name, "identity", json.loads(r.inputs["policy"])))
        elif r.typ == "aws:s3/bucketPolicy:BucketPolicy":
            found.append((r.name, "resource", json.loads(r.inputs["policy"])))
        elif r.typ == "aws:kms/key:Key":
            found.append((r.name, "key", json.loads(r.inputs["policy"])))
    return found


def _listify(value):
    return value if isinstance(value, list) else [value]


def test_iam_documents_pass_parliament(full_run, lint_policy):
    """IAM.21 (no wildcard service actions) / least privilege: parliament finds nothing in any identity
    policy or bucket policy. Key policies are linted too; there "Resource": "*" means the key itself."""
    docs = _docs(full_run)
    assert len([d for d in docs if d[1] == "identity"]) >= 12
    for where, kind, doc in docs:
        if kind == "trust":
            continue  # trust policies have principals, not actions on resources: checked below
        findings = lint_policy(doc)
        if kind == "key":
            findings = [f for f in findings if not f.startswith("RESOURCE_STAR")]
        assert findings == [], f"{where}: {findings}"


def test_no_star_action_and_no_star_resource_where_narrower_exists(full_run):
    """IAM.1 / IAM.21: no `*` or `service:*` actions in identity policies; `"Resource": "*"` only for
    actions AWS authorises on `*` alone (policies.STAR_ONLY_ACTIONS, itself checked against parliament's
    IAM database in test_policies)."""
    for where, kind, doc in _docs(full_run):
        if kind != "identity":
            continue
        for st in doc["Statement"]:
            actions = _listify(st["Action"])
            assert not [a for a in actions if a == "*" or a.endswith(":*")], where
            if "*" in _listify(st["Resource"]):
                assert set(actions) <= policies.STAR_ONLY_ACTIONS, (where, actions)


def test_trust_policies_name_one_service(full_run):
    for where, kind, doc in _docs(full_run):
        if kind == "trust":
            for st in doc["Statement"]:
                assert st["Action"] == "sts:AssumeRole" and set(st["Principal"]) == {"Service"}, where


def test_lake_bucket_encrypted_private_tls_only(full_run):
    """S3.17 (SSE-KMS), S3.1/S3.8 (public access blocked), S3.5 (TLS only), S3.12 (no ACLs),
    S3.14 (versioning), S3.13 (lifecycle)."""
    sse = full_run.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule["sseAlgorithm"] == "aws:kms" and rule["kmsMasterKeyId"].startswith("arn:aws:kms:")
    block = full_run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    policy = json.loads(full_run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    insecure = [s for s in policy["Statement"] if s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}]
    assert insecure and insecure[0]["Effect"] == "Deny" and insecure[0]["Action"] == "s3:*"
    ownership = full_run.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    assert full_run.one("aws:s3/bucketVersioning:BucketVersioning").inputs[
        "versioningConfiguration"]["status"] == "Enabled"
    assert full_run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]


def test_encryption_at_rest_everywhere(full_run):
    """KMS.4 (rotation), DynamoDB (SSE-KMS), SQS.1, SNS.1, Firehose.1, Athena results, ECR, log groups,
    SageMaker volumes and data capture, Lambda environment, the pipeline's code objects, the schedule.
    The GPU endpoint config is the one exception: GPU instances use NVMe instance storage, which AWS
    encrypts in hardware and which does not accept a KMS key."""
    key = full_run.one("aws:kms/key:Key").inputs
    assert key["enableKeyRotation"]
    kms = "arn:aws:kms:"
    checks = {
        "aws:dynamodb/table:Table": lambda i: i["serverSideEncryption"]["enabled"]
        and i["serverSideEncryption"]["kmsKeyArn"].startswith(kms),
        "aws:sqs/queue:Queue": lambda i: i["kmsMasterKeyId"].startswith(kms),
        "aws:sns/topic:Topic": lambda i: i["kmsMasterKeyId"].startswith(kms),
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
            lambda i: i["serverSideEncryption"]["enabled"] and i["extendedS3Configuration"]["kmsKeyArn"],
        "aws:athena/workgroup:Workgroup": lambda i: i["configuration"]["resultConfiguration"][
            "encryptionConfiguration"]["encryptionOption"] == "SSE_KMS",
        "aws:ecr/repository:Repository": lambda i: i["encryptionConfigurations"][0]["encryptionType"] == "KMS",
        "aws:cloudwatch/logGroup:LogGroup": lambda i: i["kmsKeyId"].startswith(kms),
        "aws:lambda/function:Function": lambda i: i["kmsKeyArn"].startswith(kms),
        "aws:s3/bucketObjectv2:BucketObjectv2": lambda i: i["serverSideEncryption"] == "aws:kms",
        "aws:scheduler/schedule:Schedule": lambda i: i["kmsKeyArn"].startswith(kms),
        "aws:glue/securityConfiguration:SecurityConfiguration":
            lambda i: i["encryptionConfiguration"]["s3Encryption"]["s3EncryptionMode"] == "SSE-KMS",
    }
    for typ, ok in checks.items():
        resources = full_run.of_type(typ)
        assert resources, typ
        for r in resources:
            assert ok(r.inputs), f"{typ} {r.name}"
    configs = full_run.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    cpu = [c for c in configs if not c.inputs["productionVariants"][0]["instanceType"].startswith("ml.g")]
    assert cpu and all(c.inputs["kmsKeyArn"].startswith(kms) for c in cpu)
    assert all(c.inputs["dataCaptureConfig"]["kmsKeyId"].startswith(kms) for c in cpu)


def test_training_jobs_encrypt_volumes_and_traffic(full_run):
    """SageMaker: KMS on job volumes and outputs, inter-container traffic encryption, spot with
    MaxWait >= MaxRuntime and checkpoints in S3."""
    definition = json.loads(full_run.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    steps = {s["Name"]: s for s in definition["Steps"]}
    train = steps["Train"]["Arguments"]
    assert train["EnableInterContainerTrafficEncryption"] is True
    assert train["ResourceConfig"]["VolumeKmsKeyId"].startswith("arn:aws:kms:")
    assert train["OutputDataConfig"]["KmsKeyId"].startswith("arn:aws:kms:")
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"]["MaxWaitTimeInSeconds"] >= train["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert train["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    for name in ("PrepareData", "Evaluate"):
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        assert cluster["VolumeKmsKeyId"].startswith("arn:aws:kms:")


def test_log_retention_set(full_run):
    """CloudWatch.16: every log group keeps logs for at least a year (and not forever)."""
    groups = full_run.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) >= 8
    assert all(365 <= g.inputs["retentionInDays"] < 3653 for g in groups)
    assert all(f.inputs["loggingConfig"]["logGroup"] for f in full_run.of_type("aws:lambda/function:Function"))


def test_api_throttled_logged_traced(full_run):
    """APIGateway.1 (execution logging), APIGateway.3 (X-Ray), APIGateway.9 (access logging); throttling
    and a quota on the usage plan (no FSBP control; Well-Architected REL05, protect against floods)."""
    stage = full_run.one("aws:apigateway/stage:Stage").inputs
    assert stage["xrayTracingEnabled"] and stage["accessLogSettings"]["destinationArn"].startswith("arn:aws:logs:")
    settings = full_run.one("aws:apigateway/methodSettings:MethodSettings").inputs
    assert settings["methodPath"] == "*/*" and settings["settings"]["loggingLevel"] == "INFO"
    assert settings["settings"]["throttlingRateLimit"] > 0 and settings["settings"]["throttlingBurstLimit"] > 0
    assert settings["settings"]["dataTraceEnabled"] is False  # bodies (prompts) stay out of the logs
    plan = full_run.one("aws:apigateway/usagePlan:UsagePlan").inputs
    assert plan["throttleSettings"]["rateLimit"] > 0 and plan["quotaSettings"]["limit"] > 0


def test_functions_have_reserved_concurrency_tracing_and_dead_letter_queues(full_run):
    """Reserved concurrency (no FSBP control; one route cannot starve the others or the account), X-Ray
    (no FSBP control for Lambda), dead-letter queues for asynchronous invocations, Lambda.2 (a
    supported runtime)."""
    functions = {f.inputs["name"]: f.inputs for f in full_run.of_type("aws:lambda/function:Function")}
    assert len(functions) == 7  # the API's four, its authorizer, the canary controller, the EMF forwarder
    for name, fn in functions.items():
        assert fn["reservedConcurrentExecutions"] >= 1, name
        assert fn["runtime"] in ("python3.12", "python3.13"), name
        if not name.endswith("authorizer"):
            assert fn["tracingConfig"]["mode"] == "Active", name
            assert fn["deadLetterConfig"]["targetArn"].startswith("arn:aws:sqs:"), name
    permissions = full_run.of_type("aws:lambda/permission:Permission")
    # Lambda.1: only API Gateway may invoke, and only from this API; the canary controller only from its rule
    rules = {r.outputs["arn"] for r in full_run.of_type("aws:cloudwatch/eventRule:EventRule")
             if r.inputs["name"].endswith("canary-controller")}
    for p in permissions:
        if p.inputs["principal"] == "events.amazonaws.com":
            assert p.inputs["sourceArn"] in rules and p.inputs["function"].endswith("canary-controller"), p.name
        elif p.inputs["principal"] == "logs.amazonaws.com":  # the EMF forwarder, from its subscribed log groups
            assert p.inputs["function"].endswith("emf-forwarder") and p.inputs["sourceAccount"], p.name
            assert p.inputs["sourceArn"].startswith("arn:aws:logs:") and p.inputs["sourceArn"].endswith(":*"), p.name
        else:
            assert p.inputs["principal"] == "apigateway.amazonaws.com" and p.inputs["sourceArn"], p.name


def test_tables_have_point_in_time_recovery(full_run):
    """DynamoDB.2 (PITR); DynamoDB.6 (deletion protection, on unless the stack is marked disposable)."""
    tables = full_run.of_type("aws:dynamodb/table:Table")
    assert len(tables) == 5
    for t in tables:
        assert t.inputs["pointInTimeRecovery"]["enabled"], t.name
        assert t.inputs["deletionProtectionEnabled"], t.name


def test_images_scanned_and_immutable(full_run):
    """ECR.1 (scan on push), ECR.2 (immutable tags), ECR.3 (a lifecycle policy)."""
    repos = full_run.of_type("aws:ecr/repository:Repository")
    assert len(repos) == 2
    for r in repos:
        assert r.inputs["imageScanningConfiguration"]["scanOnPush"] and r.inputs["imageTagMutability"] == "IMMUTABLE"
    assert len(full_run.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")) == 2


def test_network_is_private_and_logged(full_run):
    """EC2.6 (VPC flow logs), EC2.2/EC2.19 (no open ingress), no internet or NAT gateway."""
    assert full_run.one("aws:ec2/flowLog:FlowLog").inputs["trafficType"] == "ALL"
    group = full_run.one("aws:ec2/securityGroup:SecurityGroup").inputs
    assert all(rule.get("self") and not rule.get("cidrBlocks") for rule in group["ingress"])
    assert not full_run.of_type("aws:ec2/internetGateway:InternetGateway")
    assert not full_run.of_type("aws:ec2/natGateway:NatGateway")
    assert all(not s.inputs["mapPublicIpOnLaunch"] for s in full_run.of_type("aws:ec2/subnet:Subnet"))


@pytest.mark.parametrize("role", ["api-latency-p99", "api-error-rate", "endpoint-5xx", "training-failures", "drift"])
def test_paging_alarms_notify(full_run, role):
    """CloudWatch.15: alarms that page have actions (the encrypted SNS topic)."""
    alarm = full_run.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"observability-{role}").inputs
    assert alarm["alarmActions"] and alarm["alarmActions"][0].startswith("arn:aws:sns:")
