"""The local front behaves as API Gateway does, and the library's edges (settings, errors, output filter).

Front: the API key (x-api-key or Bearer), 403 for an unknown route, 413 beyond 10 MB, 502 for a
handler that raises or answers nonsense (a throwaway function folder with such handlers), and the
proxy event a handler receives.
"""

from __future__ import annotations

import json

import httpx
import pytest

from flywheel.api.errors import ApiError, BadRequest, Conflict, as_api_error
from flywheel.api.settings import ChatSettings, FeedbackSettings, SettingsError
from flywheel.local.api import MAX_BODY, LocalApi

ECHO = '''
import json
def lambda_handler(event, context):
    if event["path"].endswith("/raise"):
        raise RuntimeError("boom")
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "remaining_ms": context.get_remaining_time_in_millis()})}
'''
NONSENSE = "def lambda_handler(event, context):\n    return 'not a proxy response'\n"


@pytest.fixture(scope="module")
def echo_api(tmp_path_factory, api_env):
    folder = tmp_path_factory.mktemp("functions")
    for name, code in (("chat", ECHO), ("feedback", NONSENSE), ("moderation", ECHO), ("models", ECHO)):
        (folder / name).mkdir()
        (folder / name / "handler.py").write_text(code)
    with LocalApi(api_env, workers=1, functions_dir=folder, api_key="secret-key").start() as api:
        yield api


def test_key_checked_as_api_gateway_does(echo_api):
    url = f"{echo_api.url}/models"
    assert httpx.get(url).status_code == 403
    assert httpx.get(url, headers={"x-api-key": "wrong"}).json() == {"message": "Forbidden"}
    assert httpx.get(url, headers={"x-api-key": "secret-key"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer secret-key"}).status_code == 200


def test_unknown_route_and_method(echo_api):
    headers = {"x-api-key": "secret-key"}
    assert httpx.get(f"{echo_api.url}/nothing", headers=headers).json() == {"message": "Missing Authentication Token"}
    assert httpx.get(f"{echo_api.url}/chat/completions", headers=headers).status_code == 403


def test_the_event_is_a_rest_proxy_event(echo_api):
    answer = httpx.post(f"{echo_api.url}/chat/completions?x=1&x=2", content=b'{"a": 1}',
                        headers={"x-api-key": "secret-key", "X-Custom": "v"})
    event = answer.json()["event"]
    assert event["httpMethod"] == "POST" and event["path"] == "/v1/chat/completions"
    assert event["resource"] == "/v1/chat/completions" and event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False and event["headers"]["X-Custom"] == "v"
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["identity"]["apiKey"] == "secret-key"
    assert event["requestContext"]["requestId"] and event["requestContext"]["stage"] == "v1"
    assert 0 < answer.json()["remaining_ms"] <= 29_000
    binary = httpx.post(f"{echo_api.url}/moderations", content=b"\xff\xfe", headers={"x-api-key": "secret-key"})
    assert binary.json()["event"]["isBase64Encoded"] is True


def test_gateway_errors(echo_api):
    headers = {"x-api-key": "secret-key"}
    assert httpx.post(f"{echo_api.url}/feedback", json={}, headers=headers).status_code == 502
    assert httpx.get(f"{echo_api.url}/models/raise", headers=headers).status_code == 502
    too_big = httpx.post(f"{echo_api.url}/moderations", content=b"x" * (MAX_BODY + 1), headers=headers)
    assert too_big.status_code == 413


def test_settings_name_the_missing_variable():
    with pytest.raises(SettingsError, match="FLYWHEEL_STACK"):
        ChatSettings.from_env({"POWERTOOLS_METRICS_NAMESPACE": "Flywheel"})
    with pytest.raises(SettingsError, match="POWERTOOLS_METRICS_NAMESPACE"):
        ChatSettings.from_env({"FLYWHEEL_STACK": "dev"})
    with pytest.raises(SettingsError, match="FLYWHEEL_IDEMPOTENCY_TTL_SECONDS"):
        FeedbackSettings.from_env({"FLYWHEEL_STACK": "dev", "POWERTOOLS_METRICS_NAMESPACE": "F",
                                   "FLYWHEEL_IDEMPOTENCY_TTL_SECONDS": "soon"})
    settings = ChatSettings.from_env({"FLYWHEEL_STACK": "dev", "POWERTOOLS_METRICS_NAMESPACE": "F",
                                      "FLYWHEEL_ENDPOINT_NAME": "other"})
    assert settings.routing_table == "flywheel-dev-routing" and settings.endpoint_name == "other"


def test_error_mapping_is_one_table():
    from botocore.exceptions import ClientError, EndpointConnectionError
    from pydantic import BaseModel

    class M(BaseModel):
        x: int

    with pytest.raises(Exception) as caught:
        M.model_validate({"x": "a"})
    assert isinstance(as_api_error(caught.value), BadRequest) and as_api_error(caught.value).param == "x"
    assert as_api_error(json.JSONDecodeError("bad", "x", 0)).status == 400
    assert as_api_error(EndpointConnectionError(endpoint_url="http://x")).status == 503
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": ""}}, "PutItem")
    assert as_api_error(throttled).status == 503
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    assert isinstance(as_api_error(IdempotencyAlreadyInProgressError("busy")), Conflict)
    unknown = as_api_error(KeyError("secret detail"))
    assert type(unknown) is ApiError and unknown.status == 500 and "secret" not in unknown.message


def test_output_filter_replaces_a_harmful_answer():
    from flywheel.api.chat import FILTERED, _filtered_choice

    harmful = _filtered_choice(0, {"text": "I will kill you and your whole family tonight.",
                                   "finish_reason": "stop"}, "test-v1")
    assert harmful.finish_reason == FILTERED and "kill" not in harmful.text
    masked = _filtered_choice(1, {"text": "Write to me at jane.doe@example.com", "finish_reason": "length"},
                              "test-v1")
    assert masked.finish_reason == "length" and "jane.doe@example.com" not in masked.text
