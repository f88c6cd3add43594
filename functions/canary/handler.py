"""Canary controller Lambda: on a schedule, promote the canary model after its bake or roll it back.

EventBridge invokes it every few minutes (`serving.canarySchedule`, infra/components/canary.py). Each tick
is `flywheel.feedback.rollout.run_controller`: read the routing record; with a canary running, read its
requests, errors and thumbs since it started from CloudWatch (the API's EMF metrics under the canary's
ModelVersion), decide with `flywheel.feedback.gate.evaluate_canary`, and store a promotion or rollback
with a conditional write (two ticks never both act). It prints CanaryShare (and Rollbacks) as catalogue
EMF lines, which CloudWatch Logs turns into metrics. The same handler is what `flywheel turn`'s bake step
invokes locally.

Environment: FLYWHEEL_PROJECT and FLYWHEEL_STACK (the routing table's name, `flywheel.names`),
CANARY_CONFIG (JSON of `flywheel.feedback.gate.CanaryConfig` fields; defaults for the rest), CANARY_ROUTE
(default "chat"), and Powertools' POWERTOOLS_SERVICE_NAME. Settings are read on each invocation, so a
changed configuration needs no cold start. No torch, no model: only the routing record and metrics.
"""

import json
import os
import time

from aws_lambda_powertools import Logger

from flywheel.api.telemetry import traced_handler
from flywheel.feedback.gate import CanaryConfig
from flywheel.feedback.rollout import run_controller
from flywheel.names import StackNames

logger = Logger()


def settings() -> tuple[str, CanaryConfig, str]:
    """(routing table, canary config, route) from the environment; a bad CANARY_CONFIG raises ValueError."""
    names = StackNames(project=os.environ.get("FLYWHEEL_PROJECT", "flywheel"),
                       stack=os.environ.get("FLYWHEEL_STACK", "dev"))
    try:
        raw = json.loads(os.environ.get("CANARY_CONFIG") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"CANARY_CONFIG is not JSON: {exc}") from None
    return names.dynamo_table("routing"), CanaryConfig.from_dict(raw), os.environ.get("CANARY_ROUTE", "chat")


@logger.inject_lambda_context(log_event=False)
@traced_handler
def lambda_handler(event, context):
    table, config, route = settings()
    outcome = run_controller(table, config, time.time(), route=route)
    log = logger.warning if outcome["action"] in ("rollback", "conflict") else logger.info
    log("canary controller tick", extra={"outcome": outcome, "trigger": (event or {}).get("source", "direct")})
    return outcome
