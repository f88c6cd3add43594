"""EMF forwarder Lambda: CloudWatch Logs subscription deliveries → CloudWatch metrics.

In AWS only a Lambda's embedded-metric-format lines become metrics by themselves; the SageMaker
endpoint's container, the training jobs and the processing jobs print the same catalogue lines into
their log groups, where nothing extracts them. Subscription filters on those groups (pattern: the
Flywheel namespace in `_aws`) deliver the matching events here (gzip + base64 under `awslogs.data`),
and `flywheel.observability.emf.forward` — the code the local bridge runs against moto — publishes
them with `put_metric_data`, in the Flywheel namespace only.

Parse (Powertools' CloudWatchLogsEvent) → `forward` → log what was published and what was dropped
with its reason. A control message (CloudWatch Logs checking the destination) is acknowledged.
Environment, read at cold start: POWERTOOLS_METRICS_NAMESPACE (the one namespace it may write).
"""

from __future__ import annotations

import functools
import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent, event_source

from flywheel.observability.emf import forward

logger = Logger()


class ForwarderSettings:
    """The function's environment, checked once at cold start: a missing variable is a clear error."""

    def __init__(self, env: dict[str, str]):
        namespace = env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip()
        if not namespace:
            raise RuntimeError("POWERTOOLS_METRICS_NAMESPACE must name the metrics namespace to forward")
        self.namespaces = (namespace,)


SETTINGS = ForwarderSettings(dict(os.environ))


@functools.cache
def cloudwatch():
    import boto3  # lazily: endpoint overrides (moto) apply to a client built after they are set

    return boto3.client("cloudwatch")


@logger.inject_lambda_context
@event_source(data_class=CloudWatchLogsEvent)
def lambda_handler(event: CloudWatchLogsEvent, context) -> dict:
    data = event.parse_logs_data()
    if data.message_type == "CONTROL_MESSAGE":
        return {"lines": 0, "documents": 0, "datums": 0, "dropped": {}, "metrics": []}
    result = forward((e.message for e in data.log_events), client=cloudwatch(), namespaces=SETTINGS.namespaces)
    logger.info("forwarded EMF", extra={"log_group": data.log_group, "log_stream": data.log_stream, **result})
    if result["dropped"]:
        logger.warning("EMF lines dropped", extra={"log_group": data.log_group, "dropped": result["dropped"]})
    return result
