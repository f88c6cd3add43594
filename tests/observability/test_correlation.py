"""One request id followed across the system, for real: the local API front, the chat Lambda, the local
SageMaker endpoint (behind a data-capture proxy) with the inference server, moto's DynamoDB, Firehose
and S3, the feedback Lambda, the preference builder, the pair channel and the DPO job's artifact.

The id is API Gateway's `requestContext.requestId` (the front makes one per HTTP request). Inside the
endpoint it rides in CustomAttributes, and the inference server's structured log line for the
invocation carries it as `correlation_id`. The client
never sees it on a successful answer (the front sends no `x-amzn-RequestId`; API Gateway would), so the
test finds it from the completion id in the lake, then checks each hop carries the same value.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import openai
import pytest

from flywheel.data.schemas import events_prefix
from flywheel.observability.drift import read_captures
from flywheel.observability.local_sink import EmfBridge, capture_stdout, read_back

# Unique per run: the session's lake also holds other tests' chats, and the preference builder rightly
# drops a pair that duplicates (or contradicts) one already there.
PROMPT = f"What is a list in Python? ({uuid.uuid4().hex[:6]})"


@pytest.fixture(scope="module")
def traced_chat(api_env, moto_stack, tiny_artifact, compact_safety_config, tmp_path_factory):
    """The chat path with every process's stdout going through the EMF bridge and a capture proxy."""
    from flywheel.api.routing import write_routing
    from flywheel.feedback.gate import RoutingRecord
    from flywheel.local.api import LocalApi, publish_model, start_inference_server
    from flywheel.local.endpoint import LocalEndpoint
    from flywheel.observability.capture import CaptureProxy

    work = tmp_path_factory.mktemp("correlation")
    version = publish_model(moto_stack.client("s3"), moto_stack.names, tiny_artifact)
    write_routing(moto_stack.names.dynamo_table("routing"),
                  RoutingRecord(route="chat", champion=version, history=({"at": 1_790_000_000.0},)))
    since = time.time()
    with capture_stdout(EmfBridge(client=moto_stack.client("cloudwatch")), echo=False) as bridge:
        container = start_inference_server(work / "serve", env={"FLYWHEEL_TORCH_THREADS": "1"})
        try:
            with LocalEndpoint(container.url, work / "models", names=moto_stack.names,
                               s3_client=moto_stack.client("s3")) as endpoint, \
                    CaptureProxy(endpoint.url, work / "capture").start() as proxy:
                env = {**api_env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": proxy.url, "POWERTOOLS_LOG_LEVEL": "INFO",
                       "FLYWHEEL_SAFETY_CONFIG": str(compact_safety_config)}
                with LocalApi(env, workers=2).start(warm=("chat", "feedback")) as api:
                    yield {"api": api, "proxy": proxy, "bridge": bridge, "version": version, "since": since,
                           "capture": work / "capture", "serve_log": work / "serve" / "serve.log"}
        finally:
            container.stop()


def _lake(stack, zone: str, key: str, value: str) -> list[dict]:
    s3 = stack.client("s3")
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.names.bucket,
                                                              Prefix=events_prefix(stack.names, zone)):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=stack.names.bucket, Key=obj["Key"])["Body"].read().decode().splitlines():
                record = json.loads(line)
                if record.get(key) == value:
                    found.append(record)
    return found


def test_one_request_id_across_the_system(traced_chat, moto_stack, tmp_path, tiny_artifact):
    api, proxy, bridge = traced_chat["api"], traced_chat["proxy"], traced_chat["bridge"]
    client = openai.OpenAI(base_url=api.url, api_key=api.api_key, max_retries=0, timeout=120)
    answer = client.chat.completions.create(model="flywheel", messages=[{"role": "user", "content": PROMPT}],
                                            max_tokens=6, temperature=1.0, n=2, seed=3)
    assert answer.choices[0].message.content != answer.choices[1].message.content

    # Hop 1, the interaction record: the lake (Firehose -> S3) and DynamoDB, by completion id.
    [interaction] = _lake(moto_stack, "interactions", "completion_id", answer.id)
    rid = interaction["request_id"]
    assert rid and not rid.startswith("local-"), "the id is API Gateway's requestContext.requestId"
    item = moto_stack.client("dynamodb").get_item(TableName=moto_stack.names.dynamo_table("interactions"),
                                                  Key={"completion_id": {"S": answer.id}})["Item"]
    assert item["request_id"]["S"] == rid

    # Hop 2, the endpoint: CustomAttributes reach the container's side of SageMaker; InferenceId lands in
    # the data capture as eventMetadata.inferenceId, which the drift job reads.
    seen = [r for r in proxy.recent if r["inference_id"] == rid]
    assert seen and seen[0]["custom_attributes"] == f"request_id={rid}"
    lines = [json.loads(x) for f in traced_chat["capture"].rglob("*.jsonl") for x in f.read_text().splitlines()]
    captured = [x for x in lines if x["eventMetadata"].get("inferenceId") == rid]
    assert len(captured) == 1
    assert PROMPT in read_captures([traced_chat["capture"]]).prompts
    # ... and inside the container: the endpoint forwards the attributes, and the inference server's
    # structured log line for that invocation (its stdout, what CloudWatch Logs gets) carries the id.
    served = [json.loads(x) for x in traced_chat["serve_log"].read_text().splitlines()
              if x.startswith("{") and rid in x and '"_aws"' not in x]
    assert len(served) == 1 and served[0]["correlation_id"] == rid and served[0]["status"] == 200
    assert served[0]["completion_tokens"] == answer.usage.completion_tokens

    # Hop 3, feedback on that completion: its record in the lake names the chat's request id.
    posted = httpx.post(f"{api.url}/feedback", json={"completion_id": answer.id, "preferred_choice": 1},
                        headers={"Authorization": f"Bearer {api.api_key}"}, timeout=60)
    assert posted.status_code == 200, posted.text
    [feedback] = _lake(moto_stack, "feedback", "completion_id", answer.id)
    assert feedback["request_id"] == rid

    # Hop 4, the logs: the EMF lines of the chat's Latency and the feedback carry it as a property
    # (what the saved Logs Insights queries read), and the bridge published them to CloudWatch.
    time.sleep(0.5)  # the workers' lines travel through the pipe
    emf = [json.loads(x) for x in bridge.log_lines if x.startswith("{") and '"_aws"' in x]
    by_metric = {name: [d for d in emf if name in d and d.get("request_id") == rid] for name in ("Latency", "Feedback")}
    assert by_metric["Latency"] and by_metric["Latency"][0]["prompt_tokens"] > 0
    assert by_metric["Feedback"]
    # The inference server logs to a file (as a container's stdout reaches CloudWatch Logs): its EMF too.
    assert bridge.feed_file(traced_chat["serve_log"]) >= 1
    bridge.flush()
    stats = read_back(["Latency", "Feedback", "Requests", "TimeToFirstToken"], traced_chat["since"], time.time() + 1,
                      client=moto_stack.client("cloudwatch"))
    assert stats["Latency"]["SampleCount"] >= 1 and stats["Feedback"]["Sum"] >= 1
    assert stats["TimeToFirstToken"]["SampleCount"] >= 1

    # Hop 5, the preference pair built from the feedback, and the channel the tuning job reads.
    from flywheel.feedback.channel import read_pairs, write_pair_channel
    from flywheel.feedback.lake import build_from_lake

    prefs = build_from_lake(moto_stack.names, heldout_fraction=0.0)
    pairs = prefs.pairs[prefs.pairs["request_id"] == rid]
    assert len(pairs) == 1 and pairs.iloc[0]["chosen_completion_id"] == answer.id
    channel_dir = tmp_path / "prefs"
    write_pair_channel(channel_dir, prefs)
    channel = read_pairs(channel_dir)
    assert [p["request_id"] for p in channel.train if p["request_id"] == rid] == [rid]

    # Hop 6, the model trained on it: the DPO job records the channel's data version; that version's
    # pairs carry the request id (the link is by data version, not by id inside the artifact).
    from flywheel.feedback.tuning import main as tune
    from flywheel.model.artifact import load_artifact

    out = tmp_path / "dpo"
    assert tune(["--objective", "dpo", "--init-from", str(tiny_artifact), "--train-dir", str(channel_dir),
                 "--model-dir", str(out / "model"), "--output-data-dir", str(out / "out"),
                 "--checkpoint-dir", str(out / "ckpt"), "--failure-file", str(out / "failure"),
                 "--device", "cpu", "--max-steps", "1", "--batch-size", "2", "--log-every", "1"]) == 0
    assert load_artifact(out / "model").meta["data_version"] == channel.version == prefs.version


def test_a_refused_request_logs_the_id_the_client_is_given(traced_chat):
    """Errors answer with x-request-id; the function's structured log line carries it as correlation_id."""
    api, bridge = traced_chat["api"], traced_chat["bridge"]
    refused = httpx.post(f"{api.url}/chat/completions", headers={"Authorization": f"Bearer {api.api_key}"},
                         json={"model": "flywheel", "messages": [{"role": "user", "content": "no"}], "max_tokens": -1},
                         timeout=60)
    assert refused.status_code == 400
    rid = refused.headers["x-request-id"]
    time.sleep(0.5)
    logs = [json.loads(x) for x in bridge.log_lines if x.startswith("{") and rid in x]
    assert any(x.get("correlation_id") == rid and "_aws" not in x for x in logs), logs
