"""Api: the DynamoDB tables, the four Lambda functions, and the REST API in front of them.

Each function (chat, moderation, feedback, models) gets its own role with only the grants it needs, its
own log group with retention, a dead-letter queue for asynchronous invocations, reserved concurrency
(so one route cannot starve the others) and X-Ray tracing. Code: `functions/<name>/` plus the `flywheel`
library; third-party packages come from AWS's public Powertools layer (Powertools, pydantic, X-Ray SDK;
boto3 is in the runtime). The REST API is OpenAI-shaped (`/v1/chat/completions`, `/v1/moderations`,
`/v1/models`, `/v1/feedback`), with a stage that logs access as JSON, throttles, and requires an API key
sent the way the `openai` client sends it (`Authorization: Bearer <key>`): a small authorizer
(`infra/authorizer/handler.py`) hands the bearer token to API Gateway as the usage-plan key.

What it does not know: what the handlers do (flywheel.api); table schemas beyond their keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from flywheel.local.stack import TTL_ATTRIBUTES  # the attributes the API writes expiry times to
from flywheel.names import DYNAMO_TABLES, StackNames
from infra import policies

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
LIBRARY_DIR = REPO_ROOT / "src" / "flywheel"
AUTHORIZER_DIR = REPO_ROOT / "infra" / "authorizer"
HANDLER = "handler.lambda_handler"

# Files shipped with a function: sources and the library's data files (safety configs, policies).
_SHIPPED = {".py", ".json", ".yaml", ".yml", ".jsonl", ".txt"}
# Never shipped: caches, requirements, and the safety classifier's training-only voices
# (safety/data/authored, 3.8 MB; the functions read only the fitted classifier.json).
_NEVER = {"__pycache__", "requirements.txt", "authored"}



@dataclass(frozen=True)
class Route:
    path: str  # under the API root, e.g. "v1/chat/completions"
    method: str


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda: its folder under functions/, routes, concurrency, and what it may touch."""

    name: str
    routes: tuple[Route, ...]
    concurrency_field: str  # ApiConfig field giving its reserved concurrency
    tables: dict[str, list[str]] = field(default_factory=dict)  # table role -> DynamoDB actions
    invokes_endpoint: bool = False
    streams: tuple[str, ...] = ()  # Firehose zones it writes
    reads_registry: bool = False

    @property
    def folder(self) -> Path:
        return FUNCTIONS_DIR / self.name


READ = policies.READ_ITEMS
WRITE = policies.WRITE_ITEMS

FUNCTIONS = (
    FunctionSpec("chat", (Route("v1/chat/completions", "POST"),), "chat_concurrency",
                 tables={"routing": READ, "response_cache": READ + WRITE, "interactions": READ + WRITE},
                 invokes_endpoint=True, streams=("interactions",)),
    FunctionSpec("moderation", (Route("v1/moderations", "POST"),), "moderation_concurrency"),
    FunctionSpec("feedback", (Route("v1/feedback", "POST"),), "feedback_concurrency",
                 tables={"interactions": READ, "feedback": READ + WRITE, "idempotency": READ + WRITE},
                 streams=("feedback",)),
    FunctionSpec("models", (Route("v1/models", "GET"), Route("v1/models/{model}", "GET")), "models_concurrency",
                 tables={"routing": READ}, reads_registry=True),
)


def function_name(names: StackNames, function: str) -> str:
    return policies.physical_name(names, f"api-{function}")


def powertools_layer_arn(region: str, version: int, runtime: str, partition: str = "aws") -> str:
    """AWS's public Powertools for AWS Lambda (Python) v3 layer for this runtime (x86_64)."""
    tag = runtime.replace(".", "")  # python3.12 -> python312
    return f"arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-{tag}-x86_64:{version}"


def package_files(folder: Path, library: Path | None = LIBRARY_DIR) -> dict[str, Path]:
    """Archive path -> file for a function: its folder at the root, the library under `flywheel/`.
    Caches and requirements files are left out, so the archive (and its hash) depend on sources only.
    The library's moderation weights are built, not committed: without them this refuses to package."""
    if library is not None:
        from flywheel.safety import classifier

        classifier.require_weights()
    files: dict[str, Path] = {}
    for root, prefix in ((folder, ""), (library, "flywheel/")):
        if root is None or not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and path.suffix in _SHIPPED and not _NEVER.intersection(rel.parts) \
                    and path.name not in _NEVER:
                files[prefix + rel.as_posix()] = path
    return files


@dataclass(frozen=True)
class PowertoolsFunction:
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    dead_letter_queue: aws.sqs.Queue


def powertools_function(parent: pulumi.Resource, prefix: str, *, names: StackNames, fn_name: str, role_name: str,
                        dlq_name: str, folder: Path, service: str, runtime: str, layer: pulumi.Input[str],
                        memory_mb: int, timeout_s: int, concurrency: int, log_retention_days: int,
                        account_id: pulumi.Input[str], kms_key_arn: pulumi.Input[str],
                        policy: Callable[[dict[str, Any]], dict], policy_inputs: dict[str, Any] | None = None,
                        env: dict[str, str] | None = None, tags: dict[str, str],
                        function_logical: str | None = None) -> PowertoolsFunction:
    """One Flywheel Lambda the way every one of them is built: its own encrypted log group (JSON logs),
    an encrypted dead-letter queue, a role only Lambda assumes with the grants `policy` returns, X-Ray
    tracing, the Powertools layer, reserved concurrency, and the function's folder plus the library.

    `policy(values)` gets `log_group`, `dlq`, `kms` and the resolved `policy_inputs` and returns the
    role's policy document. Logical names are `<prefix>-logs|-dlq|-role|-policy` and the function's
    `function_logical` (default `prefix`).
    """
    child = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{prefix}-logs", name=f"/aws/lambda/{fn_name}", retention_in_days=log_retention_days,
        kms_key_id=kms_key_arn, tags=tags, opts=child)
    dlq = aws.sqs.Queue(
        f"{prefix}-dlq", name=dlq_name, kms_master_key_id=kms_key_arn, message_retention_seconds=14 * 24 * 3600,
        tags=tags, opts=child)
    role = aws.iam.Role(
        f"{prefix}-role", name=role_name, tags=tags,
        assume_role_policy=pulumi.Output.from_input(account_id).apply(
            lambda a: json.dumps(policies.assume_role("lambda.amazonaws.com", a))), opts=child)
    role_policy = aws.iam.RolePolicy(
        f"{prefix}-policy", role=role.id,
        policy=pulumi.Output.all(log_group=log_group.arn, dlq=dlq.arn, kms=kms_key_arn,
                                 **(policy_inputs or {})).apply(lambda v: json.dumps(policy(v))),
        opts=child)
    files = package_files(folder)
    function = aws.lambda_.Function(
        function_logical or prefix, name=fn_name, role=role.arn, runtime=runtime, handler=HANDLER,
        code=pulumi.AssetArchive({k: pulumi.FileAsset(str(v)) for k, v in files.items()}),
        layers=[layer], memory_size=memory_mb, timeout=timeout_s, reserved_concurrent_executions=concurrency,
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
        dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
        kms_key_arn=kms_key_arn,
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
        environment=aws.lambda_.FunctionEnvironmentArgs(variables={
            "FLYWHEEL_PROJECT": names.project, "FLYWHEEL_STACK": names.stack,
            "POWERTOOLS_SERVICE_NAME": service, "POWERTOOLS_METRICS_NAMESPACE": names.metrics_namespace,
            **(env or {})}),
        tags=tags, opts=pulumi.ResourceOptions(parent=parent, depends_on=[role_policy, log_group]))
    return PowertoolsFunction(function, role, log_group, dlq)


def routes_tree(functions=FUNCTIONS) -> list[str]:
    """Every API resource path, parents before children ("v1", "v1/chat", "v1/chat/completions", ...)."""
    paths = set()
    for spec in functions:
        for route in spec.routes:
            parts = route.path.split("/")
            paths.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(paths, key=lambda p: (p.count("/"), p))


def access_log_format() -> str:
    """One JSON object per request; `requestId` is the correlation id the handlers log too."""
    return json.dumps({
        "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "method": "$context.httpMethod",
        "path": "$context.resourcePath", "status": "$context.status", "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integration.latency", "apiKeyId": "$context.identity.apiKeyId",
        "error": "$context.error.message", "userAgent": "$context.identity.userAgent",
    }, separators=(",", ":"))


@dataclass(frozen=True)
class ApiArgs:
    names: StackNames
    region: str
    api: object  # config.ApiConfig
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    endpoint_arns: pulumi.Input[list[str]]
    firehose_arns: dict[str, pulumi.Input[str]]
    model_package_group_arn: pulumi.Input[str]
    partition: pulumi.Input[str] = "aws"
    deletion_protection: bool = True


class Api(pulumi.ComponentResource):
    url: pulumi.Output[str]
    api_key_id: pulumi.Output[str]
    api_key_value: pulumi.Output[str]
    rest_api_name: pulumi.Output[str]
    stage_name: pulumi.Output[str]
    function_names: dict[str, pulumi.Output[str]]
    log_group_names: dict[str, pulumi.Output[str]]
    table_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:api:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n, cfg, tags = args.names, args.api, policies.tags(args.names, "api")

        tables = {role: self._table(name, n, role, args, tags) for role in DYNAMO_TABLES}
        self.table_names = {role: t.name for role, t in tables.items()}

        layer = powertools_layer_arn(args.region, cfg.powertools_layer_version, cfg.runtime)
        functions: dict[str, aws.lambda_.Function] = {}
        self.function_names, self.log_group_names = {}, {}
        for spec in FUNCTIONS:
            functions[spec.name] = self._function(name, spec, args, tables, layer, tags)
            self.function_names[spec.name] = functions[spec.name].name

        rest = aws.apigateway.RestApi(
            f"{name}-rest", name=policies.physical_name(n, "api", 1024), api_key_source="AUTHORIZER",
            description="Flywheel: OpenAI-compatible chat, moderation, models and feedback",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            tags=tags, opts=child)
        authorizer_fn = self._authorizer_function(name, args, layer, tags)
        authorizer = aws.apigateway.Authorizer(
            f"{name}-authorizer", rest_api=rest.id, name="bearer-api-key", type="TOKEN",
            authorizer_uri=authorizer_fn.invoke_arn, identity_source="method.request.header.Authorization",
            identity_validation_expression=r"^Bearer [-_A-Za-z0-9]{20,128}$",
            authorizer_result_ttl_in_seconds=300, opts=child)
        aws.lambda_.Permission(
            f"{name}-authorizer-invoke", action="lambda:InvokeFunction", function=authorizer_fn.name,
            principal="apigateway.amazonaws.com", source_arn=rest.execution_arn.apply(lambda a: f"{a}/authorizers/*"),
            opts=child)

        resources: dict[str, aws.apigateway.Resource] = {}
        for path in routes_tree():
            parent_path, _, part = path.rpartition("/")
            resources[path] = aws.apigateway.Resource(
                f"{name}-path-{path.replace('/', '-').strip('{}').replace('{', '').replace('}', '')}",
                rest_api=rest.id, path_part=part,
                parent_id=resources[parent_path].id if parent_path else rest.root_resource_id, opts=child)
        integrations = []
        for spec in FUNCTIONS:
            fn = functions[spec.name]
            for route in spec.routes:
                slug = f"{route.method.lower()}-{route.path.replace('/', '-').replace('{', '').replace('}', '')}"
                method = aws.apigateway.Method(
                    f"{name}-{slug}", rest_api=rest.id, resource_id=resources[route.path].id,
                    http_method=route.method, authorization="CUSTOM", authorizer_id=authorizer.id,
                    api_key_required=True, opts=child)
                integrations.append(aws.apigateway.Integration(
                    f"{name}-{slug}-lambda", rest_api=rest.id, resource_id=resources[route.path].id,
                    http_method=method.http_method, type="AWS_PROXY", integration_http_method="POST",
                    uri=fn.invoke_arn, timeout_milliseconds=29_000, opts=child))
            aws.lambda_.Permission(
                f"{name}-{spec.name}-invoke", action="lambda:InvokeFunction", function=fn.name,
                principal="apigateway.amazonaws.com",
                source_arn=rest.execution_arn.apply(lambda a: f"{a}/*/*/*"), opts=child)

        # Redeploy whenever the set of routes changes.
        fingerprint = hashlib.sha256(json.dumps(
            [(s.name, [(r.path, r.method) for r in s.routes]) for s in FUNCTIONS]).encode()).hexdigest()
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment", rest_api=rest.id, triggers={"routes": fingerprint},
            opts=pulumi.ResourceOptions(parent=self, depends_on=integrations))

        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", name=f"/aws/apigateway/{n.prefix}-access", kms_key_id=args.kms_key_arn,
            retention_in_days=cfg.log_retention_days, tags=tags, opts=child)
        logs_role = aws.iam.Role(
            f"{name}-apigateway-logs-role", tags=tags,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(policies.assume_role("apigateway.amazonaws.com", a))), opts=child)
        aws.iam.RolePolicy(
            f"{name}-apigateway-logs-policy", role=logs_role.id,
            policy=pulumi.Output.all(args.account_id, args.partition).apply(
                lambda v: json.dumps(policies.api_gateway_logs_policy(args.region, v[0], v[1]))), opts=child)
        # Account-wide setting: the role API Gateway writes execution logs with (FSBP APIGateway.1).
        account = aws.apigateway.Account(f"{name}-account", cloudwatch_role_arn=logs_role.arn, opts=child)
        stage = aws.apigateway.Stage(
            f"{name}-stage", rest_api=rest.id, deployment=deployment.id, stage_name=cfg.stage,
            xray_tracing_enabled=True, tags=tags,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=access_log_format()),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]))
        aws.apigateway.MethodSettings(
            f"{name}-method-settings", rest_api=rest.id, stage_name=stage.stage_name, method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                metrics_enabled=True, logging_level="INFO", data_trace_enabled=False,  # no bodies in logs
                throttling_rate_limit=cfg.throttle_rate, throttling_burst_limit=cfg.throttle_burst),
            opts=child)
        plan = aws.apigateway.UsagePlan(
            f"{name}-usage-plan", name=policies.physical_name(n, "default-plan"),
            api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=rest.id, stage=stage.stage_name)],
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=cfg.throttle_rate, burst_limit=cfg.throttle_burst),
            quota_settings=aws.apigateway.UsagePlanQuotaSettingsArgs(limit=cfg.quota_per_day, period="DAY"),
            tags=tags, opts=child)
        key = aws.apigateway.ApiKey(f"{name}-key", name=policies.physical_name(n, "default-key"), enabled=True,
                                    tags=tags, opts=child)
        aws.apigateway.UsagePlanKey(f"{name}-usage-plan-key", key_id=key.id, key_type="API_KEY",
                                    usage_plan_id=plan.id, opts=child)

        self.url = stage.invoke_url
        self.api_key_id = key.id
        self.api_key_value = pulumi.Output.secret(key.value)
        self.rest_api_name = rest.name
        self.stage_name = stage.stage_name
        self.register_outputs({"url": self.url, "api_key_id": key.id, **{
            f"function_{k}": v for k, v in self.function_names.items()}})

    def _table(self, name: str, n: StackNames, role: str, args: ApiArgs, tags) -> aws.dynamodb.Table:
        hash_key, range_key = DYNAMO_TABLES[role]
        attributes = [aws.dynamodb.TableAttributeArgs(name=hash_key, type="S")]
        if range_key:
            attributes.append(aws.dynamodb.TableAttributeArgs(name=range_key, type="S"))
        ttl = TTL_ATTRIBUTES.get(role)
        return aws.dynamodb.Table(
            f"{name}-table-{role.replace('_', '-')}", name=n.dynamo_table(role), billing_mode="PAY_PER_REQUEST",
            hash_key=hash_key, range_key=range_key, attributes=attributes,
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=args.kms_key_arn),
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=ttl, enabled=True) if ttl else None,
            deletion_protection_enabled=args.deletion_protection, tags=tags,
            opts=pulumi.ResourceOptions(parent=self))

    def _function(self, name: str, spec: FunctionSpec, args: ApiArgs, tables, layer: str, tags):
        n, cfg = args.names, args.api
        table_arns = {role_: tables[role_].arn for role_ in spec.tables}
        built = powertools_function(
            self, f"{name}-{spec.name}", names=n, fn_name=function_name(n, spec.name),
            role_name=policies.physical_name(n, f"api-{spec.name}"),
            dlq_name=policies.physical_name(n, f"api-{spec.name}-dlq", 80), folder=spec.folder, service=spec.name,
            runtime=cfg.runtime, layer=layer, memory_mb=cfg.memory_mb, timeout_s=cfg.timeout_s,
            concurrency=getattr(cfg, spec.concurrency_field), log_retention_days=cfg.log_retention_days,
            account_id=args.account_id, kms_key_arn=args.kms_key_arn, tags=tags,
            policy_inputs={"tables": table_arns, "endpoints": args.endpoint_arns if spec.invokes_endpoint else [],
                           "firehose": [args.firehose_arns[z] for z in spec.streams],
                           "group": args.model_package_group_arn if spec.reads_registry else None},
            policy=lambda v: policies.lambda_policy(
                log_group_arn=v["log_group"], dead_letter_queue_arn=v["dlq"], kms_key_arn=v["kms"],
                tables={arn: spec.tables[r] for r, arn in v["tables"].items()},
                endpoint_arns=v["endpoints"] or None, firehose_arns=v["firehose"] or None,
                model_package_group_arn=v["group"]))
        self.log_group_names[spec.name] = built.log_group.name
        return built.function

    def _authorizer_function(self, name: str, args: ApiArgs, layer: str, tags):
        n, cfg = args.names, args.api
        child = pulumi.ResourceOptions(parent=self)
        fn_name = function_name(n, "authorizer")
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-authorizer-logs", name=f"/aws/lambda/{fn_name}", retention_in_days=cfg.log_retention_days,
            kms_key_id=args.kms_key_arn, tags=tags, opts=child)
        self.log_group_names["authorizer"] = log_group.name
        role = aws.iam.Role(
            f"{name}-authorizer-role", name=policies.physical_name(n, "api-authorizer"), tags=tags,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(policies.assume_role("lambda.amazonaws.com", a))), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-authorizer-policy", role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps(policies.document(policies.statement(
                "Allow", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{arn}:*"], sid="OwnLogs")))),
            opts=child)
        return aws.lambda_.Function(
            f"{name}-authorizer", name=fn_name, role=role.arn, runtime=cfg.runtime, handler=HANDLER,
            code=pulumi.AssetArchive({k: pulumi.FileAsset(str(v))
                                      for k, v in package_files(AUTHORIZER_DIR, library=None).items()}),
            memory_size=128, timeout=5, reserved_concurrent_executions=cfg.chat_concurrency,
            kms_key_arn=args.kms_key_arn,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_group]))
