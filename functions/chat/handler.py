"""Chat gateway Lambda: `POST /v1/chat/completions`, OpenAI-compatible (and `stream: true` as SSE).

Thin by design: parse the body (pydantic) → `flywheel.api.chat.complete` (safety checks, routing,
cache, endpoint, output filter, interaction log) → OpenAI's shape. Errors map to statuses in
`flywheel.api.errors`. Environment: `flywheel.api.settings.ChatSettings`, read at cold start.

Locally it runs behind `flywheel.local.api` (`flywheel up`); in AWS behind API Gateway's REST proxy.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from flywheel.api import chat
from flywheel.api.http import build_app, parse_body, request_id, serve
from flywheel.api.schemas import ChatCompletionRequest
from flywheel.api.settings import ChatSettings
from flywheel.api.telemetry import traced_handler

SETTINGS = ChatSettings.from_env()
logger = Logger()
app = build_app("chat")


@app.post("/v1/chat/completions")
def chat_completions() -> Response | dict:
    request = parse_body(app, ChatCompletionRequest)
    completion = chat.complete(request, SETTINGS, request_id=request_id(app))
    if request.stream:
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return Response(status_code=200, content_type="text/event-stream",
                        body=chat.to_events(completion, include_usage), headers={"Cache-Control": "no-cache"})
    return chat.to_openai(completion)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced_handler
def lambda_handler(event, context):
    return serve(app, event, context)
