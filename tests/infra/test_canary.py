"""The canary controller's resources under Pulumi's mocks: the scheduled Lambda, its least-privilege role,
the EventBridge rule and the only permission to invoke it. Run:
.venv/bin/python -m pytest -q tests/infra/test_canary.py"""

from __future__ import annotations

import json

from flywheel.feedback.gate import CanaryConfig
from flywheel.names import StackNames
from infra import config, policies
from infra.components.canary import controller_policy
from infra.mocks import run

NAMES = StackNames(project="flywheel", stack="dev")
ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/flywheel-dev-routing"


def _serving(serving: config.ServingConfig):
    from infra.components.serving import Serving, ServingArgs

    return run(lambda: Serving("serving", ServingArgs(
        names=NAMES, region="us-east-1", serving=serving, account_id=ACCOUNT,
        bucket_arn="arn:aws:s3:::flywheel-dev-lake", kms_key_arn=KEY,
        inference_repository_arn=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/flywheel-dev-inference",
        inference_repository_url=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/flywheel-dev-inference")))


def test_the_controller_runs_on_its_schedule_with_the_configured_thresholds():
    result = _serving(config.ServingConfig(deploy_endpoint=True, canary_schedule="rate(2 minutes)",
                                           canary_bake_s=1800, canary_max_thumbs_down_rate=0.3))
    fn = result.one("aws:lambda/function:Function", "canary").inputs
    assert fn["name"] == "flywheel-dev-canary-controller" and fn["handler"] == "handler.lambda_handler"
    assert "handler.py" in fn["code"].assets and "flywheel/feedback/rollout.py" in fn["code"].assets
    assert fn["reservedConcurrentExecutions"] == 1 and fn["tracingConfig"]["mode"] == "Active"
    env = fn["environment"]["variables"]
    assert (env["FLYWHEEL_STACK"], env["CANARY_ROUTE"], env["POWERTOOLS_METRICS_NAMESPACE"]) == ("dev", "chat", "Flywheel")
    # The handler parses exactly these settings into the gate's CanaryConfig.
    cfg = CanaryConfig.from_dict(json.loads(env["CANARY_CONFIG"]))
    assert (cfg.share, cfg.bake_seconds, cfg.max_thumbs_down_rate) == (0.1, 1800.0, 0.3)

    rule = result.one("aws:cloudwatch/eventRule:EventRule").inputs
    assert rule["scheduleExpression"] == "rate(2 minutes)"
    target = result.one("aws:cloudwatch/eventTarget:EventTarget").inputs
    assert target["rule"] == rule["name"] and target["arn"].endswith(":function:flywheel-dev-canary-controller")
    permission = result.one("aws:lambda/permission:Permission").inputs
    assert permission["principal"] == "events.amazonaws.com" and permission["function"] == fn["name"]
    assert permission["sourceArn"] == result.one("aws:cloudwatch/eventRule:EventRule").outputs["arn"]
    assert result.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").inputs[
        "maximumRetryAttempts"] == 0


def test_no_controller_without_the_endpoint():
    idle = _serving(config.ServingConfig())
    assert not idle.of_type("aws:lambda/function:Function") and not idle.of_type("aws:cloudwatch/eventRule:EventRule")


def test_the_role_may_touch_only_the_routing_table_and_metrics(lint_policy):
    result = _serving(config.ServingConfig(deploy_endpoint=True))
    trust = json.loads(result.one("aws:iam/role:Role", "canary").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    doc = json.loads(result.one("aws:iam/rolePolicy:RolePolicy", "canary").inputs["policy"])
    assert lint_policy(doc) == []
    grants = {a: st["Resource"] for st in doc["Statement"] for a in st["Action"]}
    assert grants["dynamodb:PutItem"] == grants["dynamodb:GetItem"] == [TABLE, f"{TABLE}/index/*"]
    assert "dynamodb:DeleteItem" not in grants and "dynamodb:Scan" not in grants
    assert not {a for a in grants if a.startswith(("sagemaker:", "s3:", "firehose:"))}
    assert grants["cloudwatch:GetMetricData"] == grants["cloudwatch:ListMetrics"] == "*"
    for st in doc["Statement"]:
        if st["Resource"] == "*":
            assert set(st["Action"]) <= policies.STAR_ONLY_ACTIONS, st


def test_controller_policy_alone(lint_policy):
    doc = controller_policy(log_group_arn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/x",
                            dead_letter_queue_arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq", kms_key_arn=KEY,
                            table_arn=TABLE, metrics_namespace="Flywheel")
    assert lint_policy(doc) == []
    put = next(st for st in doc["Statement"] if "cloudwatch:PutMetricData" in st["Action"])
    assert put["Condition"] == {"StringLike": {"cloudwatch:namespace": ["Flywheel"]}}


def test_the_whole_program_wires_the_controller(full_run, default_run):
    fns = {f.inputs["name"] for f in full_run.of_type("aws:lambda/function:Function")}
    assert "flywheel-full-canary-controller" in fns
    assert "flywheel-dev-canary-controller" not in {f.inputs["name"] for f in default_run.of_type(
        "aws:lambda/function:Function")}  # the default stack deploys no endpoint, so no controller
    canary = next(f for f in full_run.of_type("aws:lambda/function:Function") if f.inputs["name"].endswith("canary-controller"))
    assert canary.layer == "serving"
    assert canary.inputs["loggingConfig"]["logGroup"] == "/aws/lambda/flywheel-full-canary-controller"
