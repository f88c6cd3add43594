"""The correlation id on the SageMaker hop, for real: boto3's sagemaker-runtime client → the local endpoint
→ the inference server process. CustomAttributes reach the container, which logs the request id on its
stdout (what CloudWatch Logs receives) and echoes the attributes; every answer carries x-amzn-RequestId.

    .venv/bin/python -m pytest -q tests/serving/test_endpoint_correlation.py
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from flywheel.observability.correlation import (
    custom_attributes,
    parse_custom_attributes,
    request_id_from_attributes,
)

TARGET = "corr-v1/model.tar.gz"
BODY = {"messages": [{"role": "user", "content": "Hello?"}], "max_tokens": 4}


def _container_lines(mme, request_id: str, timeout_s: float = 5.0) -> list[dict]:
    """The container's structured log lines for one request id (its stdout is written as it goes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = []
        for line in mme.log.read_text().splitlines():
            if line.startswith("{") and request_id in line:
                found.append(json.loads(line))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_parse_custom_attributes():
    assert request_id_from_attributes(custom_attributes("abc-1")) == "abc-1"
    assert request_id_from_attributes("trace=t1; request_id = r-2 ,x=y") == "r-2"
    assert parse_custom_attributes("junk;=v;k=;a=1;a=2") == {"a": "1"}
    assert request_id_from_attributes(None) is None and request_id_from_attributes("no pairs") is None


def test_custom_attributes_reach_the_container_and_come_back(runtime, endpoint, mme):
    rid = str(uuid.uuid4())
    answer = runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                     ContentType="application/json", Body=json.dumps(BODY).encode(),
                                     CustomAttributes=custom_attributes(rid), InferenceId=rid)
    data = json.loads(answer["Body"].read())
    assert answer["CustomAttributes"] == f"request_id={rid}"
    aws_id = answer["ResponseMetadata"]["RequestId"]
    assert aws_id and aws_id != rid
    [line] = _container_lines(mme, rid)
    assert line["correlation_id"] == line["request_id"] == rid and line["service"] == "serving"
    assert line["status"] == 200 and line["model_version"] == data["model_version"]
    assert line["completion_tokens"] == data["usage"]["completion_tokens"] and line["latency_ms"] > 0
    # Each call gets an id of its own, and a call without attributes gets none echoed.
    plain = runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                    ContentType="application/json", Body=json.dumps(BODY).encode())
    assert "CustomAttributes" not in plain and plain["ResponseMetadata"]["RequestId"] != aws_id


def test_streamed_and_failed_invocations_are_logged_with_the_id(runtime, endpoint, mme):
    rid = str(uuid.uuid4())
    answer = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint.endpoint_name, ContentType="application/json", Body=json.dumps(BODY).encode(),
        CustomAttributes=custom_attributes(rid))
    assert answer["CustomAttributes"] == f"request_id={rid}" and answer["ResponseMetadata"]["RequestId"]
    raw = b"".join(event["PayloadPart"]["Bytes"] for event in answer["Body"] if "PayloadPart" in event)
    usage = json.loads(raw.splitlines()[-1])["usage"]
    [line] = _container_lines(mme, rid)
    assert line["stream"] is True and line["status"] == 200 and line["completion_tokens"] == usage["completion_tokens"]

    bad = str(uuid.uuid4())
    with pytest.raises(runtime.exceptions.ModelError) as info:
        runtime.invoke_endpoint(EndpointName=endpoint.endpoint_name, TargetModel=TARGET,
                                ContentType="application/json", Body=b'{"max_tokens": -1}',
                                CustomAttributes=custom_attributes(bad))
    assert info.value.response["ResponseMetadata"]["RequestId"]
    [failed] = _container_lines(mme, bad)
    assert failed["status"] == 400 and failed["error"] == "BadRequest" and failed["correlation_id"] == bad
