"""The EMF forwarder in the Pulumi program (under mocks): SageMaker's log groups subscribed with a pattern
on the Flywheel namespace, delivering to a least-privilege Lambda that only CloudWatch Logs may invoke.

    .venv/bin/python -m pytest -q tests/infra/test_emf_forwarder.py
"""

from __future__ import annotations

import json
import re

import pytest

from flywheel.names import StackNames
from flywheel.observability.catalogue import emf_document
from infra.components.api import FUNCTIONS_DIR, package_files
from infra.components.observability import FORWARDER, emf_filter_pattern, emf_source_log_groups


@pytest.fixture(params=["default_run", "full_run"])
def run(request):
    return request.getfixturevalue(request.param)


def _stack(run) -> StackNames:
    fn = next(f for f in run.of_type("aws:lambda/function:Function") if f.inputs["name"].endswith("emf-forwarder"))
    env = fn.inputs["environment"]["variables"]
    return StackNames(project=env["FLYWHEEL_PROJECT"], stack=env["FLYWHEEL_STACK"])


def test_each_sagemaker_log_group_is_subscribed_to_the_forwarder(run):
    names = _stack(run)
    forwarder = run.one("aws:lambda/function:Function", "emf-forwarder")
    groups = {g.outputs["name"]: g for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    filters = run.of_type("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter")
    wanted = emf_source_log_groups(names)
    assert wanted["endpoint"] == f"/aws/sagemaker/Endpoints/{names.endpoint}"
    assert sorted(f.inputs["logGroup"] for f in filters) == sorted(wanted.values())
    for f in filters:
        assert f.inputs["destinationArn"] == forwarder.outputs["arn"]
        assert f.inputs["filterPattern"] == emf_filter_pattern(names.metrics_namespace)
        group = groups[f.inputs["logGroup"]].inputs  # created by the stack: retention and the lake's key
        assert 365 <= group["retentionInDays"] < 3653 and group["kmsKeyId"].startswith("arn:aws:kms:")
    # Only CloudWatch Logs may invoke it, only from those groups, only in this account.
    permissions = [p.inputs for p in run.of_type("aws:lambda/permission:Permission")
                   if p.inputs["function"] == forwarder.outputs["name"]]
    assert sorted(p["sourceArn"] for p in permissions) == sorted(groups[g].outputs["arn"] + ":*" for g in wanted.values())
    assert all(p["principal"] == "logs.amazonaws.com" and p["sourceAccount"] == "123456789012"
               and p["action"] == "lambda:InvokeFunction" for p in permissions)


def test_the_filter_pattern_selects_the_namespace_the_catalogue_renders():
    pattern = emf_filter_pattern("Flywheel")
    match = re.fullmatch(r'\{ \$\.(\w+)\.(\w+)\[0\]\.(\w+) = "([^"]+)" \}', pattern)
    assert match, pattern
    doc = emf_document("QueueDepth", 3)
    # The JSON path the pattern names leads, in a line the catalogue renders, to the namespace it compares.
    assert doc[match[1]][match[2]][0][match[3]] == match[4]
    assert len(doc["_aws"]["CloudWatchMetrics"]) == 1  # why [0] is enough: one directive per line


def test_forwarder_role_is_least_privilege(run):
    names = _stack(run)
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "emf-forwarder-policy").inputs["policy"])
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert actions <= {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "xray:PutTraceSegments",
                       "xray:PutTelemetryRecords", "cloudwatch:PutMetricData", "kms:Decrypt", "kms:GenerateDataKey",
                       "kms:DescribeKey"}
    assert "cloudwatch:PutMetricData" in actions
    put = next(st for st in policy["Statement"] if "cloudwatch:PutMetricData" in st["Action"])
    assert put["Condition"] == {"StringLike": {"cloudwatch:namespace": [names.metrics_namespace]}}
    own_logs = by_sid["OwnLogs"]["Resource"]
    assert own_logs == [f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/{names.prefix}-emf-forwarder:*"]
    trust = json.loads(run.one("aws:iam/role:Role", "emf-forwarder-role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_forwarder_function_is_packaged_small_and_configured(run):
    fn = run.one("aws:lambda/function:Function", "emf-forwarder").inputs
    assert fn["handler"] == "handler.lambda_handler" and fn["deadLetterConfig"]["targetArn"].startswith("arn:aws:sqs:")
    assert fn["environment"]["variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "Flywheel"
    assert any("AWSLambdaPowertoolsPythonV3" in layer for layer in fn["layers"])
    files = package_files(FUNCTIONS_DIR / FORWARDER)
    assert "handler.py" in files and "flywheel/observability/emf.py" in files
    assert not [k for k in files if k.endswith((".pt", ".safetensors", ".so"))]
