"""An endpoint failure is counted against the model version the request was routed to.

The canary controller rolls a canary back on its error rate, which it reads from the `Errors` series
that name the canary's ModelVersion; so the chat function must say which version failed. Here the
chat handler runs as Lambda calls it, against moto server, with the SageMaker runtime pointed at a port
where nothing listens: the answer is a 5xx with a reason, and its `Errors` line names the routed version.
A client's own fault (a 400) names no version.
"""

from __future__ import annotations

import json
import uuid

from flywheel.local.api import ROUTES, LambdaContext, build_event

CHAT = next(r for r in ROUTES if r.function == "chat")


def _errors_lines(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "Errors" in line and "_aws" in line]


def _call(handler, body: dict) -> dict:
    event = build_event("POST", "/v1/chat/completions", [("content-type", "application/json")],
                        json.dumps(body).encode(), CHAT, {}, "127.0.0.1", None)
    return handler.lambda_handler(event, LambdaContext("chat", str(uuid.uuid4()), 30))


def test_an_endpoint_failure_names_the_routed_version(load_handler, routed, moto_stack, monkeypatch, capsys):
    from flywheel.api import aws
    from flywheel.api.routing import read_routing

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")  # nothing listens there
    aws.reset()
    try:
        handler = load_handler("chat")
        capsys.readouterr()
        answer = _call(handler, {"model": "flywheel", "max_tokens": 4,
                                 "messages": [{"role": "user", "content": "What is a tuple?"}]})
        out = capsys.readouterr().out
        bad = _call(handler, {"model": "flywheel", "messages": []})
        bad_out = capsys.readouterr().out
    finally:
        aws.reset()
    champion = read_routing(moto_stack.names.dynamo_table("routing"), max_age=0).champion

    assert answer["statusCode"] >= 500, answer
    assert json.loads(answer["body"])["error"]["message"]
    [line] = _errors_lines(out)
    assert line["ModelVersion"] == champion and line["Route"] == "chat"

    assert bad["statusCode"] == 400
    [refused] = _errors_lines(bad_out)
    assert refused["ModelVersion"] == "none"
