"""Observability: the CloudWatch dashboard and alarms built from the metric catalogue, the SNS topic they
notify, and saved Logs Insights queries for the patterns worth looking at across the whole system.

Every metric the dashboard and the alarms read comes from `flywheel.observability.catalogue`, with the
dimension sets the catalogue says it is published under (a test parses the dashboard JSON and the
alarms to check it). Breakdowns use SEARCH over a metric's detailed dimensions; alarms read roll-ups,
whose dimension values are fixed. The "jump" alarms (moderation flag rate, thumbs-down rate) use
anomaly detection bands on the rate rather than a fixed threshold. The drift alarm's name is known in
advance (policies.alarm_name) so Training can start the pipeline on it.

EMF forwarding: in AWS only a Lambda's embedded-metric-format lines become metrics by themselves. The
SageMaker endpoint's container and the training and processing jobs print the same catalogue lines into
their log groups, so (when given `EmfForwarderArgs`) this layer creates those log groups (retention, KMS),
a subscription filter on each whose pattern matches the Flywheel namespace in `_aws`, and the forwarder
Lambda (`functions/emf_forwarder`) they deliver to, which publishes with the code the local bridge runs.
Its role may write its own logs, its dead-letter queue, traces and metrics in the Flywheel namespace
only; only CloudWatch Logs, from those groups in this account, may invoke it. The training and
processing groups are per account: a second stack in the same account must not create them again.

What it does not know: how the metrics are produced (the catalogue's emitters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flywheel.names import StackNames
from flywheel.observability import catalogue as cat
from infra import policies
from infra.components.api import FUNCTIONS_DIR, powertools_function, powertools_layer_arn

FORWARDER = "emf_forwarder"  # the folder under functions/

# ---- dashboard ------------------------------------------------------------------------------------


def _plain(m: cat.Metric, dims: dict[str, str], stat: str, label: str | None = None, **extra) -> list:
    """One metric line of a widget: [namespace, name, dim, value, ..., {options}]."""
    if tuple(sorted(dims)) not in {tuple(sorted(s)) for s in m.dimension_sets}:
        raise ValueError(f"{m.name} is not published under dimensions {sorted(dims)}")
    line: list = [m.namespace, m.name]
    for key, value in dims.items():
        line += [key, value]
    return line + [{"stat": stat, **({"label": label} if label else {}), **extra}]


def search(m: cat.Metric, dims: tuple[str, ...], stat: str, period: int) -> str:
    """A SEARCH expression over one dimension set of a catalogue metric (an exact schema match)."""
    if tuple(sorted(dims)) not in {tuple(sorted(s)) for s in m.dimension_sets}:
        raise ValueError(f"{m.name} is not published under dimensions {sorted(dims)}")
    namespace = f'"{m.namespace}"' if "/" in m.namespace else m.namespace
    return f"SEARCH('{{{','.join([namespace, *dims])}}} MetricName=\"{m.name}\"', '{stat}', {period})"


def _search_widget(m: cat.Metric, dims: tuple[str, ...], stat: str, period: int) -> list:
    return [[{"expression": search(m, dims, stat, period), "id": f"s_{m.name.lower()}", "period": period}]]


def _widget(title: str, metrics: list, region: str, period: int, x: int, y: int, w: int = 8, h: int = 6,
            view: str = "timeSeries", stacked: bool = False) -> dict:
    return {"type": "metric", "x": x, "y": y, "width": w, "height": h,
            "properties": {"title": title, "region": region, "period": period, "view": view,
                           "stacked": stacked, "metrics": metrics}}


def _svc(m: cat.Metric, **more: str) -> dict[str, str]:
    return {cat.SERVICE: m.layer, **more}


def dashboard_widgets(names: StackNames, region: str, period: int) -> list[dict]:
    """The dashboard's metric widgets, section by section, all read from the catalogue."""
    M = cat.metric
    endpoint = {"EndpointName": names.endpoint, "VariantName": "primary"}
    sm = cat.SAGEMAKER_ENDPOINT_NAMESPACE
    rows: list[tuple[str, list]] = [
        # Traffic
        ("Requests by route", _search_widget(M("Requests"), (cat.SERVICE, "Route"), "Sum", period)),
        ("Errors by type", _search_widget(M("Errors"), M("Errors").detailed_dimensions, "Sum", period)),
        ("Cache hits", [_plain(M("CacheHits"), _svc(M("CacheHits")), "Sum")]),
        # Latency
        ("API latency (ms)", [_plain(M("Latency"), _svc(M("Latency")), p, label=p) for p in ("p50", "p90", "p99")]),
        ("Time to first token p90 by model (ms)",
         _search_widget(M("TimeToFirstToken"), M("TimeToFirstToken").detailed_dimensions, "p90", period)),
        ("Time per output token p90 by model (ms)",
         _search_widget(M("TimePerOutputToken"), M("TimePerOutputToken").detailed_dimensions, "p90", period)),
        # Tokens
        ("Prompt tokens by model", _search_widget(M("TokensIn"), M("TokensIn").detailed_dimensions, "Sum", period)),
        ("Completion tokens by model",
         _search_widget(M("TokensOut"), M("TokensOut").detailed_dimensions, "Sum", period)),
        ("Generated tokens/s by model",
         _search_widget(M("TokensPerSecond"), M("TokensPerSecond").detailed_dimensions, "Average", period)),
        # Safety
        ("Moderation flags by direction",
         _search_widget(M("ModerationFlags"), (cat.SERVICE, "Direction"), "Sum", period)),
        ("Moderation flags by category and model",
         _search_widget(M("ModerationFlags"), M("ModerationFlags").detailed_dimensions, "Sum", period)),
        ("Refusals by policy", _search_widget(M("Refusals"), M("Refusals").detailed_dimensions, "Sum", period)),
        # Feedback
        ("Feedback by kind and rating",
         _search_widget(M("Feedback"), (cat.SERVICE, "Kind", "Rating"), "Sum", period)),
        ("Thumbs-down rate", [
            [{"expression": "IF(thumbs > 0, down / thumbs, 0)", "label": "thumbs-down rate", "id": "rate"}],
            _plain(M("Feedback"), _svc(M("Feedback"), Kind="thumbs", Rating="down"), "Sum", id="down",
                   visible=False),
            _plain(M("Feedback"), _svc(M("Feedback"), Kind="thumbs"), "Sum", id="thumbs", visible=False)]),
        # Serving internals
        ("Queue depth and batch size", [_plain(M("QueueDepth"), _svc(M("QueueDepth")), "Maximum"),
                                        _plain(M("BatchSize"), _svc(M("BatchSize")), "Average")]),
        ("Prefix-cache hits by model",
         _search_widget(M("PrefixCacheHits"), M("PrefixCacheHits").detailed_dimensions, "Sum", period)),
        ("Model loads and evictions", [_plain(M("ModelLoads"), _svc(M("ModelLoads")), "Sum"),
                                       _plain(M("ModelEvictions"), _svc(M("ModelEvictions")), "Sum")]),
        ("Endpoint invocations and 5xx", [
            _plain(cat.lookup(sm, "Invocations"), endpoint, "Sum"),
            _plain(cat.lookup(sm, "Invocation5XXErrors"), endpoint, "Sum")]),
        ("Endpoint model latency p99 (µs)", [_plain(cat.lookup(sm, "ModelLatency"), endpoint, "p99")]),
        # Training
        ("train_loss by job", _search_widget(cat.lookup(cat.SAGEMAKER_TRAINING_NAMESPACE, "train_loss"),
                                             ("Host",), "Average", period)),
        ("val_loss by job", _search_widget(cat.lookup(cat.SAGEMAKER_TRAINING_NAMESPACE, "val_loss"),
                                           ("Host",), "Average", period)),
        ("Training tokens/s by job", _search_widget(cat.lookup(cat.SAGEMAKER_TRAINING_NAMESPACE, "tokens_per_sec"),
                                                    ("Host",), "Average", period)),
        ("Pipeline failures", [
            _plain(cat.lookup(cat.SAGEMAKER_PIPELINE_NAMESPACE, "ExecutionFailed"),
                   {"PipelineName": names.pipeline}, "Sum")]),
        # Data and the loop
        ("Documents in / kept", [_plain(M("DocumentsIn"), _svc(M("DocumentsIn")), "Sum"),
                                 _plain(M("DocumentsKept"), _svc(M("DocumentsKept")), "Sum")]),
        ("Documents dropped by reason",
         _search_widget(M("DocumentsDropped"), M("DocumentsDropped").detailed_dimensions, "Sum", period)),
        ("Gate metrics by model", _search_widget(M("GateMetric"), M("GateMetric").detailed_dimensions,
                                                 "Average", period)),
        ("Gate verdicts (1 = promoted)", _search_widget(M("GateVerdict"), M("GateVerdict").detailed_dimensions,
                                                        "Maximum", period)),
        ("Canary share by model (%)", _search_widget(M("CanaryShare"), M("CanaryShare").detailed_dimensions,
                                                     "Average", period)),
        ("Rollbacks and drift", [_plain(M("Rollbacks"), _svc(M("Rollbacks")), "Sum"),
                                 _plain(M("DriftScore"), _svc(M("DriftScore")), "Maximum")]),
    ]
    widgets = []
    for i, (title, metrics) in enumerate(rows):
        widgets.append(_widget(title, metrics, region, period, x=(i % 3) * 8, y=(i // 3) * 6 + 2))
    return widgets


def dashboard_body(names: StackNames, region: str, period: int, alarm_arns: list[str]) -> dict:
    header = {"type": "text", "x": 0, "y": 0, "width": 16, "height": 2, "properties": {"markdown": (
        f"# Flywheel `{names.stack}`\nTraffic · latency · tokens · safety · feedback · serving · training · "
        "the loop. Metric names: `flywheel.observability.catalogue`.")}}
    alarms = {"type": "alarm", "x": 16, "y": 0, "width": 8, "height": 2,
              "properties": {"title": "Alarms", "alarms": sorted(alarm_arns)}}
    return {"widgets": [header, alarms, *dashboard_widgets(names, region, period)]}


# ---- alarms ---------------------------------------------------------------------------------------


def _query(id_: str, m: cat.Metric, dims: dict[str, str], stat: str, period: int, visible: bool = False) -> dict:
    _plain(m, dims, stat)  # validates the dimension set
    return {"id": id_, "return_data": visible, "metric": {"namespace": m.namespace, "metric_name": m.name,
                                                          "dimensions": dims, "stat": stat, "period": period}}


def alarm_specs(names: StackNames, obs) -> list[dict]:
    """Every alarm as a plain dict: either one metric (namespace/metric_name/dimensions) or metric math
    (`metric_queries`). `obs` is an ObservabilityConfig."""
    M, period = cat.metric, obs.period_s
    requests = _query("requests", M("Requests"), _svc(M("Requests")), "Sum", period)
    return [
        {"role": "api-latency-p99", "description": "API latency p99 above its threshold",
         "namespace": M("Latency").namespace, "metric_name": "Latency", "dimensions": _svc(M("Latency")),
         "extended_statistic": "p99", "period": period, "evaluation_periods": 3, "datapoints_to_alarm": 2,
         "threshold": obs.latency_p99_ms, "comparison_operator": "GreaterThanThreshold"},
        {"role": "api-error-rate", "description": "share of API requests that failed",
         "metric_queries": [
             _query("errors", M("Errors"), _svc(M("Errors")), "Sum", period), requests,
             {"id": "rate", "expression": "IF(requests > 0, errors / requests, 0)", "label": "error rate",
              "return_data": True}],
         "evaluation_periods": 2, "threshold": obs.error_rate, "comparison_operator": "GreaterThanThreshold"},
        {"role": "endpoint-5xx", "description": "the endpoint answered 5xx",
         "namespace": cat.SAGEMAKER_ENDPOINT_NAMESPACE, "metric_name": "Invocation5XXErrors",
         "dimensions": {"EndpointName": names.endpoint, "VariantName": "primary"}, "statistic": "Sum",
         "period": period, "evaluation_periods": 1, "threshold": obs.endpoint_5xx,
         "comparison_operator": "GreaterThanOrEqualToThreshold"},
        {"role": "moderation-flag-rate-jump", "description": "moderation flags per request jumped",
         "metric_queries": [
             _query("flags", M("ModerationFlags"), _svc(M("ModerationFlags")), "Sum", period), requests,
             {"id": "rate", "expression": "IF(requests > 0, flags / requests, 0)", "label": "flags per request",
              "return_data": True},
             {"id": "band", "expression": f"ANOMALY_DETECTION_BAND(rate, {obs.anomaly_band})",
              "label": "expected", "return_data": True}],
         "threshold_metric_id": "band", "evaluation_periods": 3, "datapoints_to_alarm": 2,
         "comparison_operator": "GreaterThanUpperThreshold"},
        {"role": "thumbs-down-rate-jump", "description": "share of thumbs-down feedback jumped",
         "metric_queries": [
             _query("down", M("Feedback"), _svc(M("Feedback"), Kind="thumbs", Rating="down"), "Sum", period),
             _query("thumbs", M("Feedback"), _svc(M("Feedback"), Kind="thumbs"), "Sum", period),
             {"id": "rate", "expression": "IF(thumbs > 0, down / thumbs, 0)", "label": "thumbs-down rate",
              "return_data": True},
             {"id": "band", "expression": f"ANOMALY_DETECTION_BAND(rate, {obs.anomaly_band})",
              "label": "expected", "return_data": True}],
         "threshold_metric_id": "band", "evaluation_periods": 3, "datapoints_to_alarm": 2,
         "comparison_operator": "GreaterThanUpperThreshold"},
        {"role": "training-failures", "description": "a continuous-training pipeline execution failed",
         "namespace": cat.SAGEMAKER_PIPELINE_NAMESPACE, "metric_name": "ExecutionFailed",
         "dimensions": {"PipelineName": names.pipeline}, "statistic": "Sum", "period": period,
         "evaluation_periods": 1, "threshold": 1.0, "comparison_operator": "GreaterThanOrEqualToThreshold"},
        {"role": "drift", "description": "live prompts drifted from the training baseline; starts training",
         "namespace": M("DriftScore").namespace, "metric_name": "DriftScore", "dimensions": _svc(M("DriftScore")),
         "statistic": "Maximum", "period": 3600, "evaluation_periods": 1, "threshold": obs.drift_threshold,
         "comparison_operator": "GreaterThanThreshold"},
    ]


def drift_alarm_name(names: StackNames) -> str:
    return policies.alarm_name(names, "drift")


# ---- saved queries --------------------------------------------------------------------------------

SAVED_QUERIES = {
    "top-moderation-categories-by-model-version": (
        "filter ispresent(ModerationFlags)\n"
        "| stats sum(ModerationFlags) as flags by ModelVersion, Direction, Category\n"
        "| sort flags desc\n| limit 50"),
    "thumbs-down-rate-by-policy-version": (
        "filter ispresent(Feedback) and Kind = \"thumbs\"\n"
        "| stats sum(Feedback) as thumbs, sum(Feedback * strcontains(Rating, \"down\")) as down by policy_version\n"
        "| fields policy_version, down / thumbs as thumbs_down_rate, thumbs\n| sort thumbs_down_rate desc"),
    "slowest-requests-with-prompt-length": (
        "filter ispresent(Latency)\n"
        "| fields @timestamp, request_id, Route, ModelVersion, Latency, prompt_tokens\n"
        "| sort Latency desc\n| limit 50"),
    "error-clusters": (
        "filter level = \"ERROR\" or ispresent(Errors)\n"
        "| fields coalesce(ErrorType, exception_name, message) as error\n"
        "| stats count(*) as n by error, Route\n| sort n desc\n| limit 50"),
}


# ---- EMF forwarding ---------------------------------------------------------------------------------


def emf_source_log_groups(names: StackNames) -> dict[str, str]:
    """The log groups SageMaker writes whose EMF lines nothing else turns into metrics, by role."""
    return {"endpoint": f"/aws/sagemaker/Endpoints/{names.endpoint}",
            "training": "/aws/sagemaker/TrainingJobs",
            "processing": "/aws/sagemaker/ProcessingJobs"}


def emf_filter_pattern(namespace: str = cat.NAMESPACE) -> str:
    """A JSON filter pattern matching the EMF documents of one namespace (as the catalogue renders them:
    one CloudWatchMetrics directive per line); every other line stays out of the forwarder."""
    return f'{{ $._aws.CloudWatchMetrics[0].Namespace = "{namespace}" }}'


@dataclass(frozen=True)
class EmfForwarderArgs:
    account_id: pulumi.Input[str]
    runtime: str = "python3.12"
    powertools_layer_version: int = 18
    log_retention_days: int = 365
    concurrency: int = 5  # deliveries are small and asynchronous; a handful at once is plenty
    memory_mb: int = 256
    timeout_s: int = 60


@dataclass(frozen=True)
class ObservabilityArgs:
    names: StackNames
    region: str
    observability: object  # config.ObservabilityConfig
    kms_key_arn: pulumi.Input[str]
    log_group_names: dict[str, pulumi.Input[str]]
    forwarder: EmfForwarderArgs | None = None  # None: no EMF forwarding (SageMaker's EMF stays in its logs)


class Observability(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    forwarder_arn: pulumi.Output[str] | None
    alarm_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        n, obs, tags = args.names, args.observability, policies.tags(args.names, "observability")

        topic = aws.sns.Topic(f"{name}-alarms", name=policies.physical_name(n, "alarms", 256),
                              kms_master_key_id=args.kms_key_arn, tags=tags, opts=child)
        if obs.alarm_email:
            aws.sns.TopicSubscription(f"{name}-alarms-email", topic=topic.arn, protocol="email",
                                      endpoint=obs.alarm_email, opts=child)

        alarms = {}
        for spec in alarm_specs(n, obs):
            kwargs = {k: spec[k] for k in ("namespace", "metric_name", "dimensions", "statistic", "extended_statistic",
                                           "period", "threshold", "threshold_metric_id", "datapoints_to_alarm")
                      if k in spec}
            if "metric_queries" in spec:
                kwargs["metric_queries"] = [_metric_query(q) for q in spec["metric_queries"]]
            alarms[spec["role"]] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec['role']}", name=policies.alarm_name(n, spec["role"]),
                alarm_description=spec["description"], comparison_operator=spec["comparison_operator"],
                evaluation_periods=spec["evaluation_periods"], treat_missing_data="notBreaching",
                alarm_actions=[topic.arn], ok_actions=[topic.arn], tags=tags, opts=child, **kwargs)

        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=policies.physical_name(n, "flywheel", 255),
            dashboard_body=pulumi.Output.all(*[a.arn for a in alarms.values()]).apply(
                lambda arns: json.dumps(dashboard_body(n, args.region, obs.period_s, list(arns)))),
            opts=child)

        for query, text in SAVED_QUERIES.items():
            aws.cloudwatch.QueryDefinition(
                f"{name}-query-{query}", name=f"flywheel/{n.stack}/{query}", query_string=text,
                log_group_names=list(args.log_group_names.values()), opts=child)

        self.forwarder_arn = self._emf_forwarder(name, args, tags) if args.forwarder else None
        self.topic_arn = topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.alarm_names = {role: a.name for role, a in alarms.items()}
        self.register_outputs({"topic_arn": topic.arn, "dashboard_name": dashboard.dashboard_name,
                               "forwarder_arn": self.forwarder_arn})

    def _emf_forwarder(self, name: str, args: ObservabilityArgs, tags: dict) -> pulumi.Output[str]:
        """The forwarder Lambda and the subscriptions that feed it; returns the function's ARN."""
        n, fwd, child = args.names, args.forwarder, pulumi.ResourceOptions(parent=self)
        fn_name = policies.physical_name(n, "emf-forwarder")
        # Own logs, own dead-letter queue, traces, the key, and PutMetricData in Flywheel's namespace only.
        function = powertools_function(
            self, f"{name}-emf-forwarder", names=n, fn_name=fn_name, role_name=fn_name,
            dlq_name=policies.physical_name(n, "emf-forwarder-dlq", 80), folder=FUNCTIONS_DIR / FORWARDER,
            service="emf-forwarder", runtime=fwd.runtime,
            layer=powertools_layer_arn(args.region, fwd.powertools_layer_version, fwd.runtime),
            memory_mb=fwd.memory_mb, timeout_s=fwd.timeout_s, concurrency=fwd.concurrency,
            log_retention_days=fwd.log_retention_days, account_id=fwd.account_id, kms_key_arn=args.kms_key_arn,
            tags=tags, policy=lambda v: policies.lambda_policy(
                log_group_arn=v["log_group"], dead_letter_queue_arn=v["dlq"], kms_key_arn=v["kms"],
                metrics_namespace=n.metrics_namespace)).function
        for role_, group_name in emf_source_log_groups(n).items():
            group = aws.cloudwatch.LogGroup(
                f"{name}-sagemaker-{role_}-logs", name=group_name, retention_in_days=fwd.log_retention_days,
                kms_key_id=args.kms_key_arn, tags=tags, opts=child)
            permission = aws.lambda_.Permission(
                f"{name}-emf-forwarder-from-{role_}", action="lambda:InvokeFunction", function=function.name,
                principal="logs.amazonaws.com", source_account=fwd.account_id,
                source_arn=group.arn.apply(lambda arn: f"{arn}:*"), opts=child)
            aws.cloudwatch.LogSubscriptionFilter(
                f"{name}-emf-{role_}", name=policies.physical_name(n, f"emf-{role_}", 512),
                log_group=group.name, filter_pattern=emf_filter_pattern(n.metrics_namespace),
                destination_arn=function.arn, opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]))
        return function.arn


def _metric_query(q: dict) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    if "metric" in q:
        m = q["metric"]
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=q["id"], return_data=q["return_data"], metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=m["namespace"], metric_name=m["metric_name"], dimensions=m["dimensions"], stat=m["stat"],
                period=m["period"]))
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(id=q["id"], expression=q["expression"], label=q["label"],
                                                     return_data=q["return_data"])
