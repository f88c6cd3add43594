"""Models Lambda: `GET /v1/models` and `GET /v1/models/{model}` in OpenAI's shape.

Reads the routing configuration (`flywheel.api.models`): the `flywheel` alias, the champion and any
canary. Environment: `flywheel.api.settings.ModelsSettings`, read at cold start.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from flywheel.api import models
from flywheel.api.http import build_app, serve
from flywheel.api.settings import ModelsSettings
from flywheel.api.telemetry import traced_handler

SETTINGS = ModelsSettings.from_env()
logger = Logger()
app = build_app("models")


@app.get("/v1/models")
def list_models() -> dict:
    return models.list_models(SETTINGS.routing_table)


@app.get("/v1/models/<model_id>")
def get_model(model_id: str) -> dict:
    return models.get_model(SETTINGS.routing_table, model_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced_handler
def lambda_handler(event, context):
    return serve(app, event, context)
