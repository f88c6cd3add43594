"""boto3's sagemaker-runtime client, unchanged, against the local endpoint in front of the real container."""

from __future__ import annotations

import json

import pytest

TARGET = "test-v1/model.tar.gz"
BODY = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}],
        "max_tokens": 6}


def test_invoke_endpoint_fetches_loads_and_answers(runtime, endpoint, mme):
    answer = runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                     ContentType="application/json", Accept="application/json",
                                     Body=json.dumps(BODY).encode())
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    data = json.loads(answer["Body"].read())
    assert data["model_version"] == "test-v1" and data["choices"][0]["finish_reason"] in ("stop", "length")
    loaded = [m["modelName"] for m in mme.call("GET", "/models")[2]["models"]]
    assert any(name.startswith("test-v1-model.tar.gz") for name in loaded)
    again = json.loads(runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                               ContentType="application/json",
                                               Body=json.dumps(BODY).encode())["Body"].read())
    assert again["choices"] == data["choices"]  # greedy, and the model was loaded once


def test_errors_reach_boto3_as_sagemaker_errors(runtime, endpoint):
    with pytest.raises(runtime.exceptions.ModelError) as info:
        runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                ContentType="application/json", Body=b"{broken")
    assert info.value.response["OriginalStatusCode"] == 400
    assert "not valid JSON" in info.value.response["OriginalMessage"]
    with pytest.raises(runtime.exceptions.ClientError) as info:
        runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel="nope/model.tar.gz",
                                ContentType="application/json", Body=json.dumps(BODY).encode())
    assert info.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(runtime.exceptions.ClientError) as info:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", TargetModel=TARGET,
                                ContentType="application/json", Body=json.dumps(BODY).encode())
    assert info.value.response["Error"]["Code"] == "ValidationError"


def test_invoke_endpoint_with_response_stream(runtime, endpoint):
    whole = json.loads(runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                               ContentType="application/json",
                                               Body=json.dumps(BODY).encode())["Body"].read())
    # This call has no TargetModel: the endpoint's default target answers it.
    answer = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint.endpoint_name, ContentType="application/json",
        Body=json.dumps(BODY).encode())
    raw = b"".join(event["PayloadPart"]["Bytes"] for event in answer["Body"] if "PayloadPart" in event)
    lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert lines[-1]["usage"] == whole["usage"]
    assert "".join(c["text"] for c in lines[:-1]) == whole["choices"][0]["text"]
    assert lines[-2]["finish_reason"] == whole["choices"][0]["finish_reason"]
