"""The canary controller: a Lambda that EventBridge runs on a schedule to promote or roll back the canary.

The loop deploys a challenger as a canary in the routing record (a share of the chat route's traffic);
nothing else moves it. Every `serving.canarySchedule` (default `rate(5 minutes)`) an EventBridge rule
invokes `functions/canary/handler.py`, which reads the canary's requests, errors and thumbs since it
started from CloudWatch (the API's own EMF metrics under the canary's ModelVersion) and promotes it after
its bake or rolls it back, with a conditional write to the routing table. Its settings travel as the
CANARY_CONFIG environment variable (the fields of `flywheel.feedback.gate.CanaryConfig`).

Least privilege: its role may write its own logs and dead-letter queue, trace, put metrics in the
Flywheel namespace, use the stack's key, get and put items of the routing table only, and read metrics
(GetMetricData and ListMetrics authorise on `*` alone). Only this rule may invoke it. Reserved concurrency
1: two ticks never run at once (the conditional write would also stop the second).

Built by `Serving` (the serving layer owns the rollout) when the endpoint is deployed. It does not know
what the handler decides, only what it may touch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flywheel.names import StackNames
from infra import policies

METRIC_READS = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]
ROUTING_ITEMS = ["dynamodb:GetItem", "dynamodb:PutItem"]  # read the record; the conditional put of a transition


@dataclass(frozen=True)
class CanaryControllerArgs:
    names: StackNames
    region: str
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    schedule: str  # an EventBridge schedule expression, e.g. "rate(5 minutes)"
    canary_config: dict  # CanaryConfig fields, as CANARY_CONFIG
    runtime: str = "python3.12"
    powertools_layer_version: int = 18
    log_retention_days: int = 365
    partition: pulumi.Input[str] = "aws"


def function_name(names: StackNames) -> str:
    return policies.physical_name(names, "canary-controller")


def routing_table_arn(partition: str, region: str, account_id: str, names: StackNames) -> str:
    return f"arn:{partition}:dynamodb:{region}:{account_id}:table/{names.dynamo_table('routing')}"


def controller_policy(*, log_group_arn: str, dead_letter_queue_arn: str, kms_key_arn: str, table_arn: str,
                      metrics_namespace: str) -> dict:
    """The function's grants: the API functions' base (logs, DLQ, tracing, metrics, key) on the routing table,
    plus reading CloudWatch metrics."""
    doc = policies.lambda_policy(log_group_arn=log_group_arn, dead_letter_queue_arn=dead_letter_queue_arn,
                                 kms_key_arn=kms_key_arn, tables={table_arn: ROUTING_ITEMS},
                                 metrics_namespace=metrics_namespace)
    doc["Statement"].append(policies.statement("Allow", METRIC_READS, "*", sid="ReadCanaryMetrics"))
    return doc


def add_canary_controller(parent: pulumi.Resource, name: str, args: CanaryControllerArgs) -> dict[str, pulumi.Output]:
    """The function, its log group, DLQ, role and policy, the schedule rule, its target and the permission."""
    from infra.components.api import FUNCTIONS_DIR, powertools_function, powertools_layer_arn

    n, tags = args.names, policies.tags(args.names, "serving")
    child = pulumi.ResourceOptions(parent=parent)
    fn_name = function_name(n)
    built = powertools_function(
        parent, name, names=n, fn_name=fn_name, role_name=fn_name,
        dlq_name=policies.physical_name(n, "canary-controller-dlq", 80), folder=FUNCTIONS_DIR / "canary",
        service="canary", runtime=args.runtime,
        layer=powertools_layer_arn(args.region, args.powertools_layer_version, args.runtime),
        memory_mb=256, timeout_s=60, concurrency=1, log_retention_days=args.log_retention_days,
        account_id=args.account_id, kms_key_arn=args.kms_key_arn, tags=tags,
        policy_inputs={"partition": args.partition, "account": args.account_id},
        policy=lambda v: controller_policy(
            log_group_arn=v["log_group"], dead_letter_queue_arn=v["dlq"], kms_key_arn=v["kms"],
            table_arn=routing_table_arn(v["partition"], args.region, v["account"], n),
            metrics_namespace=n.metrics_namespace),
        env={"CANARY_ROUTE": "chat", "CANARY_CONFIG": json.dumps(args.canary_config, sort_keys=True)},
        function_logical=f"{name}-function")
    function, role = built.function, built.role
    # A failed tick is not retried: the next one decides again from the stored record.
    aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-async", function_name=function.name, maximum_retry_attempts=0, maximum_event_age_in_seconds=300,
        opts=child)
    rule = aws.cloudwatch.EventRule(
        f"{name}-schedule", name=fn_name, schedule_expression=args.schedule,
        description="canary controller tick: promote the routed canary after its bake or roll it back",
        tags=tags, opts=child)
    aws.cloudwatch.EventTarget(f"{name}-target", rule=rule.name, arn=function.arn, opts=child)
    aws.lambda_.Permission(
        f"{name}-invoke", action="lambda:InvokeFunction", function=function.name,
        principal="events.amazonaws.com", source_arn=rule.arn, opts=child)
    return {"function_name": function.name, "rule_name": rule.name, "role_arn": role.arn}
