"""Feedback Lambda: `POST /v1/feedback`, stored exactly once (Powertools Idempotency on DynamoDB).

Parse (pydantic) → `flywheel.api.feedback.record_feedback` (checks the completion exists, writes
DynamoDB and the lake's feedback zone through Firehose) → answer. The idempotency layer is built
lazily on the first request; the handler registers the Lambda context with it so an in-progress
record expires with the invocation. Environment: `flywheel.api.settings.FeedbackSettings`.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from flywheel.api import feedback
from flywheel.api.http import build_app, parse_body, serve
from flywheel.api.schemas import FeedbackRequest
from flywheel.api.settings import FeedbackSettings
from flywheel.api.telemetry import traced_handler

SETTINGS = FeedbackSettings.from_env()
logger = Logger()
app = build_app("feedback")


@app.post("/v1/feedback")
def post_feedback() -> dict:
    return feedback.record_feedback(parse_body(app, FeedbackRequest), SETTINGS)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced_handler
def lambda_handler(event, context):
    feedback.register_lambda_context(SETTINGS, context)
    return serve(app, event, context)
