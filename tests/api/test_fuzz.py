"""Fuzzing every handler with hypothesis: malformed events and malformed bodies → 4xx with a reason.

Each handler is called as Lambda calls it (`lambda_handler(event, context)`), in this process, against
moto server. Two families of inputs, each malformed by construction:

- events that are not API Gateway REST proxy events (any JSON value; a real event with a field
  removed or given the wrong type);
- real events to the handler's own route whose body is not valid: not JSON, not an object, or a valid
  request with at least one mutation that breaks it (a required field removed, a field of the wrong
  type, a value out of range, an unknown field), plus unknown paths and methods.

Every answer must be a proxy response with a 4xx status and a JSON body that says why. The default run
uses `FUZZ_EXAMPLES` examples per handler and family; the slow run 10,000 per handler.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.local.api import ROUTES, LambdaContext, build_event

FUZZ_EXAMPLES = 300
SLOW_EXAMPLES = 5000  # per family: two families make 10,000 per handler

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
not_strings = st.one_of(st.booleans(), st.integers(), st.floats(), st.lists(scalars, max_size=3),
                        st.dictionaries(st.text(max_size=5), scalars, max_size=3))
not_lists = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
                      st.dictionaries(st.text(max_size=5), scalars, max_size=3))
containers = st.one_of(st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3))

VALID = {
    "chat": {"model": "flywheel", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8,
             "temperature": 0.5, "n": 1, "stream": False},
    "moderation": {"input": ["hello"], "model": "omni-moderation-latest"},
    "feedback": {"completion_id": "chatcmpl-abc", "thumbs": "up"},
}
# Per field: values that can never be valid for it.
BREAKERS = {
    "chat": {"model": st.one_of(not_strings, st.just("")),
             "messages": st.one_of(not_lists, st.just([]),
                                   st.lists(st.fixed_dictionaries({"role": st.sampled_from(["tool", "bot", ""]),
                                                                   "content": st.text(max_size=5)}), min_size=1,
                                            max_size=2),
                                   st.just([{"role": "assistant", "content": "only an answer"}])),
             "max_tokens": st.one_of(st.integers(max_value=0), st.integers(min_value=4097), containers,
                                     st.text(max_size=3), st.booleans()),
             "temperature": st.one_of(st.floats(max_value=-0.01), st.floats(min_value=2.01), containers),
             "n": st.one_of(st.integers(max_value=0), st.integers(min_value=9), containers, st.booleans()),
             "stream": st.one_of(st.integers(), st.text(max_size=3), containers)},
    "moderation": {"input": st.one_of(st.just([]), st.just(""), st.integers(), st.floats(), st.booleans(),
                                      st.dictionaries(st.text(max_size=5), scalars, min_size=1, max_size=3),
                                      st.lists(st.text(max_size=3), min_size=33, max_size=40)),
                   "model": not_strings},
    "feedback": {"completion_id": st.one_of(not_strings, st.just(""), st.text(min_size=1).filter(
                     lambda s: any(not (c.isascii() and (c.isalnum() or c in "_.:-")) for c in s))),
                 "thumbs": st.one_of(not_strings, st.text(max_size=6).filter(lambda s: s not in ("up", "down")))},
}
REQUIRED = {"chat": ["model", "messages"], "moderation": ["input"], "feedback": ["completion_id", "thumbs"]}
ROUTE_OF = {r.function: r for r in ROUTES if "{" not in r.resource}


@st.composite
def broken_bodies(draw, function: str) -> str:
    kind = draw(st.sampled_from(["not_json", "not_object", "mutated"]))
    if kind == "not_json":
        text = draw(st.text(max_size=40))
        try:
            json.loads(text)
            return text + "{"  # whatever parsed, this does not
        except ValueError:
            return text
    if kind == "not_object":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict))))
    body = json.loads(json.dumps(VALID[function]))
    breakers = BREAKERS[function]
    fields = draw(st.lists(st.sampled_from(sorted(breakers) + ["_drop", "_unknown"]), min_size=1, max_size=3,
                           unique=True))
    for field in fields:
        if field == "_drop":
            body.pop(draw(st.sampled_from(REQUIRED[function])), None)
        elif field == "_unknown":
            body[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in VALID[function]))] = draw(scalars)
        else:
            body[field] = draw(breakers[field])
    if function == "feedback" and "_drop" not in fields and draw(st.booleans()):
        body["rating"] = draw(st.integers(1, 5))  # two kinds at once is never valid either
    return json.dumps(body)


@st.composite
def broken_requests(draw, function: str) -> dict:
    if function == "models":
        path = draw(st.one_of(st.just("/v1/models/") .map(lambda p: p + "unknown-model"),
                              st.text(max_size=20).map(lambda t: "/v1/" + t).filter(
                                  lambda p: p not in ("/v1/models",) and not p.startswith("/v1/models/"))))
        route = ROUTES[3]
        event = build_event("GET", path, [], b"", route, {}, "127.0.0.1", "k")
        event["path"] = path
        return event
    route = ROUTE_OF[function]
    raw = draw(broken_bodies(function)).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "PUT", "DELETE"]))  # no route
        return build_event(method, route.resource, [], raw, route, {}, "127.0.0.1", "k")
    event = build_event("POST", route.resource, [("content-type", "application/json")], raw, route, {},
                        "127.0.0.1", "k")
    if draw(st.integers(0, 9)) == 0:
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode() + draw(st.sampled_from(["", "!"])), True
    return event


@st.composite
def broken_events(draw, function: str) -> object:
    if draw(st.booleans()):
        return draw(json_values)
    route = ROUTE_OF.get(function, ROUTES[3])
    event = build_event(route.method, route.resource, [], json.dumps(VALID.get(function, {})).encode(), route, {},
                        "127.0.0.1", "k")
    key = draw(st.sampled_from(["httpMethod", "path", "headers", "body", "isBase64Encoded",
                                "queryStringParameters", "requestContext"]))
    if key in ("httpMethod", "path") and draw(st.booleans()):
        del event[key]
    else:
        event[key] = draw(containers if key in ("httpMethod", "path", "body", "isBase64Encoded")
                          else st.one_of(st.integers(), st.text(max_size=4), st.lists(scalars, min_size=1, max_size=2)))
    return event


def _check(answer: object) -> None:
    assert isinstance(answer, dict), answer
    assert 400 <= answer["statusCode"] < 500, answer
    body = json.loads(answer["body"])
    reason = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("message")
    assert isinstance(reason, str) and reason.strip(), body


def _fuzz(load_handler, function: str, examples: int) -> None:
    handler = load_handler(function).lambda_handler
    context = LambdaContext(function, "fuzz", 30)
    common = settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))

    @common
    @given(broken_events(function))
    def events(event):
        _check(handler(event, context))

    @common
    @given(broken_requests(function))
    def requests(event):
        _check(handler(event, context))

    events()
    requests()


HANDLERS = ["chat", "moderation", "feedback", "models"]


@pytest.mark.parametrize("function", HANDLERS)
def test_malformed_input_gets_a_4xx_with_a_reason(load_handler, routed, function):
    _fuzz(load_handler, function, FUZZ_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("function", HANDLERS)
def test_10000_malformed_inputs_per_handler(load_handler, routed, function):
    _fuzz(load_handler, function, SLOW_EXAMPLES)


def test_the_unbroken_bodies_are_valid():
    """The mutations above are what make a body bad: the bodies they start from pass validation."""
    from flywheel.api.schemas import ChatCompletionRequest, FeedbackRequest, ModerationRequest

    for model, function in ((ChatCompletionRequest, "chat"), (ModerationRequest, "moderation"),
                            (FeedbackRequest, "feedback")):
        model.model_validate(VALID[function])
