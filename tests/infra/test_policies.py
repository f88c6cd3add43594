"""The plain functions behind the program: policy documents, names, config parsing, lifecycle rules,
packaging. No Pulumi, no AWS. Run: .venv/bin/python -m pytest -q tests/infra/test_policies.py"""

from __future__ import annotations

import pytest

from flywheel.names import StackNames
from infra import config, policies
from infra.components import api, datalake, network, registry

NAMES = StackNames(project="flywheel", stack="dev")
BUCKET = "arn:aws:s3:::flywheel-dev-lake"
KEY = "arn:aws:kms:us-east-1:123456789012:key/abc"
REPOS = ["arn:aws:ecr:us-east-1:123456789012:repository/flywheel-dev-training"]
GROUP = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/flywheel-dev-models"
ROLE = "arn:aws:iam::123456789012:role/flywheel-dev-sagemaker-execution"


def _statements(doc):
    return doc["Statement"]


def _actions(st):
    return st["Action"] if isinstance(st["Action"], list) else [st["Action"]]


def _resources(st):
    return st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]


def test_tls_only_policy_denies_plain_http_on_bucket_and_objects():
    doc = policies.tls_only_bucket_policy(BUCKET)
    deny = [s for s in _statements(doc) if s["Condition"].get("Bool") == {"aws:SecureTransport": "false"}]
    assert len(deny) == 1 and deny[0]["Effect"] == "Deny" and deny[0]["Action"] == "s3:*"
    assert set(deny[0]["Resource"]) == {BUCKET, f"{BUCKET}/*"}


@pytest.mark.parametrize("network", [False, True])
def test_sagemaker_policy_is_scoped(lint_policy, network):
    doc = policies.sagemaker_execution_policy(
        bucket_arn=BUCKET, kms_key_arn=KEY, repository_arns=REPOS, model_package_group_arn=GROUP, role_arn=ROLE,
        region="us-east-1", account_id="123456789012", job_prefix="flywheel-dev", network=network)
    assert lint_policy(doc) == []
    for st in _statements(doc):
        assert "*" not in _actions(st) and not any(a.endswith(":*") for a in _actions(st))
        if "*" in _resources(st):
            assert set(_actions(st)) <= policies.STAR_ONLY_ACTIONS, st
    writes = next(s for s in _statements(doc) if "s3:PutObject" in _actions(s))
    assert all(r.startswith((f"{BUCKET}/shards/", f"{BUCKET}/training/")) for r in _resources(writes))
    pass_role = next(s for s in _statements(doc) if "iam:PassRole" in _actions(s))
    assert pass_role["Resource"] == [ROLE]


def test_lambda_policy_grants_only_what_it_names(lint_policy):
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/flywheel-dev-routing"
    doc = policies.lambda_policy(log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x",
                                 dead_letter_queue_arn="arn:aws:sqs:us-east-1:123456789012:dlq", kms_key_arn=KEY,
                                 tables={table: policies.READ_ITEMS})
    assert lint_policy(doc) == []
    actions = {a for st in _statements(doc) for a in _actions(st)}
    assert not actions & {"sagemaker:InvokeEndpoint", "firehose:PutRecord", "dynamodb:PutItem"}
    metrics = next(s for s in _statements(doc) if "cloudwatch:PutMetricData" in _actions(s))
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": [NAMES.metrics_namespace]}}


def test_star_only_actions_really_have_no_resource_types(lint_policy):
    # If AWS (parliament's IAM database) ever adds resource-level permissions to one of these, the
    # allow-list must shrink: parliament then reports RESOURCE_STAR for it.
    for action in sorted(policies.STAR_ONLY_ACTIONS):
        doc = policies.document(policies.statement("Allow", [action], "*"))
        assert not [f for f in lint_policy(doc) if f.startswith("RESOURCE_STAR")], action
    # and the linter does catch a star where a narrower resource exists
    doc = policies.document(policies.statement("Allow", ["s3:GetObject"], "*"))
    assert any(f.startswith("RESOURCE_STAR") for f in lint_policy(doc))


def test_assume_role_guards_against_confused_deputy():
    doc = policies.assume_role("sagemaker.amazonaws.com", "123456789012")
    st = _statements(doc)[0]
    assert st["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_config_defaults_and_errors():
    assert config.section_from("training", None) == config.TrainingConfig()
    parsed = config.section_from("serving", {"deployEndpoint": "true", "instanceCount": "2", "canaryPercent": 20})
    assert parsed.deploy_endpoint is True and parsed.instance_count == 2 and parsed.canary_percent == 20
    with pytest.raises(config.ConfigError, match="flywheel:serving.instanceTyp"):
        config.section_from("serving", {"instanceTyp": "ml.c5.xlarge"})
    with pytest.raises(config.ConfigError, match="must be true or false"):
        config.section_from("network", {"enabled": "yes"})
    with pytest.raises(config.ConfigError, match="must be a int"):
        config.section_from("api", {"memoryMb": "lots"})


def test_spot_training_needs_max_wait_at_least_max_runtime():
    from training_jobs.pipeline import PipelineSettings

    with pytest.raises(ValueError, match="max_wait_s"):
        PipelineSettings(name="p", bucket="b", region="us-east-1", model_package_group="g",
                         max_runtime_s=3600, max_wait_s=60)
    defaults = config.TrainingConfig()
    assert defaults.use_spot and defaults.max_wait_s >= defaults.max_runtime_s


def test_lifecycle_rules_cover_each_ageing_zone():
    rules = {r["prefix"]: r for r in datalake.lifecycle_rules(config.LakeConfig())}
    assert rules[""]["noncurrent_days"] == 30 and rules[""]["abort_multipart_days"] == 7
    assert rules["training/checkpoints/"]["expiration_days"] == 14
    assert rules[policies.CAPTURE_PREFIX]["expiration_days"] == 90
    assert rules["raw/"]["storage_class"] == "STANDARD_IA"


def test_registry_lifecycle_expires_untagged_first():
    rules = registry.lifecycle_policy(5)["rules"]
    assert rules[0]["selection"]["tagStatus"] == "untagged" and rules[1]["selection"]["countNumber"] == 5


def test_api_routes_and_packaging(tmp_path):
    assert api.routes_tree()[:3] == ["v1", "v1/chat", "v1/feedback"]
    assert "v1/models/{model}" in api.routes_tree()
    folder = tmp_path / "fn"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "handler.py").write_text("def lambda_handler(e, c):\n    return e\n")
    (folder / "requirements.txt").write_text("boto3\n")
    (folder / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    files = api.package_files(folder)
    assert "handler.py" in files and "requirements.txt" not in files
    assert not any("__pycache__" in k for k in files)
    assert "flywheel/names.py" in files and "flywheel/observability/catalogue.py" in files
    assert "flywheel/safety/data/classifier.json" in files
    assert not any("/authored/" in k for k in files)  # training-only data stays out of the functions
    assert api.powertools_layer_arn("eu-west-1", 7, "python3.12").endswith(
        ":layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7")


def test_subnets_are_carved_from_the_vpc_range():
    assert network.subnet_cidrs("10.42.0.0/16", 2) == ["10.42.0.0/20", "10.42.16.0/20"]


def test_authorizer_turns_bearer_token_into_usage_plan_key():
    from infra.authorizer.handler import lambda_handler

    key = "k" * 30
    answer = lambda_handler({"authorizationToken": f"Bearer {key}",
                             "methodArn": "arn:aws:execute-api:us-east-1:1:abc/prod/POST/v1/chat/completions"}, None)
    assert answer["usageIdentifierKey"] == key
    assert answer["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:1:abc/prod/*"
    with pytest.raises(Exception, match="Unauthorized"):
        lambda_handler({"authorizationToken": "Basic abc", "methodArn": "arn:x/prod/GET/v1/models"}, None)
