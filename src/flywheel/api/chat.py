"""Chat completions: the domain logic behind `POST /v1/chat/completions`.

One request, in order: the input checks (`flywheel.safety.check_input`: moderation and prompt-attack
detection; a block is a 400 `content_filter` naming the categories or the attack, Azure OpenAI's
convention) → the server's system policy (`apply_policy`; a user cannot replace it) → the model from
the routing configuration (champion or canary) → the response cache for temperature 0 → the endpoint
through `sagemaker-runtime` `invoke_endpoint` → the output filter per choice (a replaced answer ends
with finish_reason `content_filter`) → the interaction, to DynamoDB (for feedback) and through
Firehose to the lake → OpenAI's response shape, or server-sent events when `stream` is true.

Streaming: API Gateway's REST proxy integration hands the client the Lambda's whole response, and the
output filter must see a whole answer before it may be shown, so the answer is generated and filtered
first and then sent as a sequence of `chat.completion.chunk` events the `openai` client reads as a
stream.

Knows the endpoint's invocation body (`flywheel.serving.params`) and OpenAI's shapes; no HTTP framework.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from flywheel.api import aws, cache, lake
from flywheel.api.errors import (
    ApiError,
    BadRequest,
    ContentFiltered,
    ServiceUnavailable,
    UpstreamError,
    as_api_error,
)
from flywheel.api.routing import pick, read_routing
from flywheel.api.schemas import ChatCompletionRequest
from flywheel.api.settings import ChatSettings
from flywheel.api.telemetry import emit, logger, traced
from flywheel.observability.correlation import custom_attributes
from flywheel.safety import InputVerdict, apply_policy, check_input, filter_output

ROUTE = "chat"
FILTERED = "content_filter"


@dataclass
class Choice:
    index: int
    text: str
    finish_reason: str
    output_check: dict[str, Any] = field(default_factory=dict)


@dataclass
class Completion:
    id: str
    created: int
    model_version: str
    policy_version: str
    choices: list[Choice]
    usage: dict[str, int]
    cache_hit: bool = False


def _refusal(verdict: InputVerdict) -> ContentFiltered:
    """Azure OpenAI's content-filter error: which categories (and which attack) blocked the input."""
    result: dict[str, Any] = {c: {"filtered": True, "severity": "high"} for c in verdict.categories}
    if verdict.attack:
        result["jailbreak"] = {"filtered": True, "detected": True, "attack": verdict.attack}
    message = (f"The request was filtered by the content policy: {verdict.reason}"
               + (f" (categories: {', '.join(verdict.categories)})" if verdict.categories else ""))
    return ContentFiltered(message, param="messages", extra={"innererror": {
        "code": "ResponsibleAIPolicyViolation", "content_filter_result": result,
        "policy_version": verdict.policy_version}})


def _client_messages(request: ChatCompletionRequest) -> list[dict[str, str]]:
    # Roles pass as given: apply_policy demotes the client's system and developer messages.
    return [{"role": m.role, "content": m.text} for m in request.messages]


def generation_params(request: ChatCompletionRequest, settings: ChatSettings) -> dict[str, Any]:
    params: dict[str, Any] = {
        "max_tokens": request.new_tokens or settings.default_max_tokens, "temperature": request.temperature,
        "top_p": request.top_p, "top_k": request.top_k, "n": request.n, "stop": request.stops,
    }
    if request.seed is not None:
        params["seed"] = request.seed
    return params


@traced
def invoke_model(endpoint: str, target: str, body: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """One call to the endpoint; its failures become typed API errors (never a client's 4xx).

    The request id travels as CustomAttributes (the container sees it) and InferenceId (data capture
    records it in eventMetadata.inferenceId), so captured invocations join the interaction record.
    """
    runtime = aws.client("sagemaker-runtime")
    correlation = {"CustomAttributes": custom_attributes(request_id), "InferenceId": request_id[:64]} \
        if request_id else {}
    try:
        answer = runtime.invoke_endpoint(EndpointName=endpoint, TargetModel=target,
                                         ContentType="application/json", Accept="application/json",
                                         Body=json.dumps(body).encode(), **correlation)
    except Exception as exc:
        response = getattr(exc, "response", {})
        status = response.get("OriginalStatusCode")
        if status == 400:
            # The model refused the request itself (a prompt longer than its context, say): the
            # caller's to fix, so a 400 with the model's reason, as OpenAI's context_length_exceeded.
            raise BadRequest(f"the model cannot take this request: {response.get('OriginalMessage') or exc}",
                             param="messages", code="model_rejected_request") from exc
        if status in (429, 503, 507):
            raise ServiceUnavailable(f"the model endpoint is overloaded ({status}); retry later",
                                     headers={"Retry-After": "2"}) from exc
        raise as_api_error(exc) from exc
    try:
        data = json.loads(answer["Body"].read())
        choices = data["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError("no choices")
        return data
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(f"the model endpoint answered something unreadable: {exc}") from exc


def _choice_text(raw: dict[str, Any]) -> str:
    if "text" in raw:
        return str(raw["text"])
    return str((raw.get("message") or {}).get("content", ""))


def _filtered_choice(index: int, raw: dict[str, Any], model_version: str) -> Choice:
    verdict = filter_output(_choice_text(raw))
    finish = str(raw.get("finish_reason") or "stop")
    if verdict.flagged:
        finish = FILTERED
        emit("Refusals", 1, Policy=verdict.policy or "output", ModelVersion=model_version)
        for category in verdict.categories:
            emit("ModerationFlags", 1, Direction="output", Category=category, ModelVersion=model_version)
    check = verdict.to_dict()
    check.pop("text")  # the record keeps the shown text once, in `choices`
    return Choice(index=index, text=verdict.text, finish_reason=finish, output_check=check)


def _usage(raw: Any) -> dict[str, int]:
    raw = raw if isinstance(raw, dict) else {}
    prompt, completion = int(raw.get("prompt_tokens", 0) or 0), int(raw.get("completion_tokens", 0) or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def complete(request: ChatCompletionRequest, settings: ChatSettings, request_id: str) -> Completion:
    started = time.perf_counter()
    messages = _client_messages(request)
    verdict = check_input(messages)
    policy_version = verdict.policy_version
    if verdict.blocked:
        for category in verdict.moderation.flagged_categories:
            emit("ModerationFlags", 1, Direction="input", Category=category, ModelVersion="none")
        emit("Refusals", 1, Policy="attack" if verdict.attack else "input", ModelVersion="none")
        raise _refusal(verdict)
    # The guard may mask PII in the client's messages (its pii_input_action); the model sees those.
    sent = apply_policy(verdict.masked_messages or messages)

    routing = read_routing(settings.routing_table)
    target = pick(routing, request.model, request.user)
    params = generation_params(request, settings)
    key = cache.cache_key(target.version, policy_version, sent, params) if request.temperature == 0 else None
    answer = cache.lookup(settings.cache_table, key) if key else None
    model_ms = 0.0
    if answer is not None:
        emit("CacheHits", 1, Route=ROUTE)
        choices = [Choice(**c) for c in answer["choices"]]
        usage = answer["usage"]
    else:
        model_started = time.perf_counter()
        try:
            raw = invoke_model(settings.endpoint_name, target.target, {"messages": sent, **params}, request_id)
        except ApiError as error:
            if error.status >= 500:  # the model's fault, not the request's: counted against its version
                error.model_version = target.version
            raise
        model_ms = (time.perf_counter() - model_started) * 1000
        choices = [_filtered_choice(i, c if isinstance(c, dict) else {}, target.version)
                   for i, c in enumerate(raw["choices"])]
        usage = _usage(raw.get("usage"))
        if key:
            cache.store(settings.cache_table, key, {
                "model_version": target.version, "usage": usage,
                "choices": [c.__dict__ for c in choices]}, settings.cache_ttl_seconds)

    completion = Completion(id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()),
                            model_version=target.version, policy_version=policy_version, choices=choices,
                            usage=usage, cache_hit=answer is not None)
    lake.remember_interaction(settings.interactions_table, completion_id=completion.id, request_id=request_id,
                              model_version=target.version, n=len(choices), created=completion.created,
                              ttl_days=settings.interaction_ttl_days)
    latency_ms = (time.perf_counter() - started) * 1000
    record = {
        "completion_id": completion.id, "request_id": request_id, "created": completion.created,
        "model": request.model, "model_version": target.version, "arm": target.arm, "policy_version": policy_version,
        "messages": sent, "choices": [c.text for c in choices],
        "finish_reasons": [c.finish_reason for c in choices],
        "input_moderation": asdict(verdict.moderation), "input_attack": verdict.attack,
        "output_checks": [c.output_check for c in choices], "params": params, "user": request.user,
        "usage": usage, "latency_ms": round(latency_ms, 3), "model_latency_ms": round(model_ms, 3),
        "cache_hit": completion.cache_hit, "stream": request.stream,
    }
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        lake.to_firehose(settings.interactions_stream, record)
    except (BotoCoreError, ClientError):
        # The answer is already generated and remembered; losing its lake copy must be loud, not fatal.
        logger.exception("interaction not delivered to the lake", extra={"completion_id": completion.id})
        emit("Errors", 1, ErrorType="InteractionNotLogged", Route=ROUTE, ModelVersion=target.version)
    emit("TokensIn", usage["prompt_tokens"], ModelVersion=target.version)
    emit("TokensOut", usage["completion_tokens"], ModelVersion=target.version)
    emit("Latency", latency_ms, {"request_id": request_id, "prompt_tokens": usage["prompt_tokens"]},
         Route=ROUTE, ModelVersion=target.version)
    emit("Requests", 1, Route=ROUTE, ModelVersion=target.version)
    return completion


def to_openai(completion: Completion) -> dict[str, Any]:
    return {
        "id": completion.id, "object": "chat.completion", "created": completion.created,
        "model": completion.model_version, "system_fingerprint": f"policy-{completion.policy_version}",
        "choices": [{"index": c.index, "message": {"role": "assistant", "content": c.text},
                     "logprobs": None, "finish_reason": c.finish_reason} for c in completion.choices],
        "usage": completion.usage,
    }


_PIECES = re.compile(r"\S+\s*|\s+")


def to_events(completion: Completion, include_usage: bool = False) -> str:
    """The completion as server-sent events: a role delta, content deltas word by word, a finish, [DONE]."""
    head = {"id": completion.id, "object": "chat.completion.chunk", "created": completion.created,
            "model": completion.model_version, "system_fingerprint": f"policy-{completion.policy_version}"}
    events = []

    def send(choices: list[dict[str, Any]], **extra: Any) -> None:
        events.append("data: " + json.dumps({**head, "choices": choices, **extra}, ensure_ascii=False) + "\n\n")

    for c in completion.choices:
        send([{"index": c.index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
               "finish_reason": None}])
        for piece in _PIECES.findall(c.text):
            send([{"index": c.index, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
        send([{"index": c.index, "delta": {}, "logprobs": None, "finish_reason": c.finish_reason}])
    if include_usage:
        send([], usage=completion.usage)
    events.append("data: [DONE]\n\n")
    return "".join(events)
