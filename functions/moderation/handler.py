"""Moderation Lambda: `POST /v1/moderations` in OpenAI's request and response shapes.

Parse (pydantic) → `flywheel.api.moderation.moderate` (the safety library's classifier) → answer.
It calls no AWS service, so it builds no boto3 client at all. Environment:
`flywheel.api.settings.ModerationSettings`, read at cold start.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from flywheel.api import moderation
from flywheel.api.http import build_app, parse_body, serve
from flywheel.api.schemas import ModerationRequest
from flywheel.api.settings import ModerationSettings
from flywheel.api.telemetry import traced_handler

SETTINGS = ModerationSettings.from_env()
logger = Logger()
app = build_app("moderation")


@app.post("/v1/moderations")
def moderations() -> dict:
    return moderation.moderate(parse_body(app, ModerationRequest))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced_handler
def lambda_handler(event, context):
    return serve(app, event, context)
