"""POST /v1/feedback through the local API front against moto server: checks, exactly-once, load.

The load test posts thousands of feedbacks concurrently with 20% duplicates (as retries and double
clicks make them) and then reads DynamoDB and the lake's feedback zone (the Firehose stream's S3
objects) back: every distinct feedback must be there exactly once, and none lost. A client that gets
409 (the same feedback in flight in another worker) retries, as the `openai` client does.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from flywheel.data.schemas import events_prefix


def _post(client: httpx.Client, url: str, key: str, body: dict, retries: int = 100) -> httpx.Response:
    for attempt in range(retries):
        answer = client.post(url, json=body, headers={"x-api-key": key})
        if answer.status_code != 409:
            return answer
        time.sleep(min(0.02 * (attempt + 1), 0.3))
    return answer


def _feedback_items(stack, completion_ids: set[str]) -> list[dict]:
    dynamodb = stack.client("dynamodb")
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.names.dynamo_table("feedback")):
        items += [i for i in page["Items"] if i["completion_id"]["S"] in completion_ids]
    return items


def _lake_records(stack, completion_ids: set[str]) -> list[dict]:
    s3 = stack.client("s3")
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.names.bucket,
                                                              Prefix=events_prefix(stack.names, "feedback")):
        for obj in page.get("Contents", []):
            text = s3.get_object(Bucket=stack.names.bucket, Key=obj["Key"])["Body"].read().decode()
            records += [r for r in map(json.loads, text.splitlines()) if r["completion_id"] in completion_ids]
    return records


def test_each_kind_is_stored_with_lake_columns(local_api, seed_completion, moto_stack):
    cid = seed_completion(n=2)
    url = f"{local_api.url}/feedback"
    bodies = [{"completion_id": cid, "thumbs": "down", "choice_index": 1},
              {"completion_id": cid, "rating": 4},
              {"completion_id": cid, "preferred_choice": 1},
              {"completion_id": cid, "correction": "A better answer."}]
    with httpx.Client(timeout=60) as client:
        answers = [_post(client, url, local_api.api_key, b) for b in bodies]
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert [a.json()["kind"] for a in answers] == ["thumbs", "rating", "preferred_choice", "correction"]
    records = {r["feedback_id"]: r for r in _lake_records(moto_stack, {cid})}
    assert set(records) == {a.json()["id"] for a in answers}
    by_kind = {next(k for k in ("thumbs", "rating", "preferred_choice", "correction") if r[k] is not None): r
               for r in records.values()}
    assert by_kind["thumbs"]["thumbs"] == "down" and by_kind["thumbs"]["choice_index"] == 1
    assert by_kind["rating"]["rating"] == 4 and by_kind["rating"]["model_version"] == "test-v1"
    assert by_kind["preferred_choice"]["preferred_choice"] == 1
    assert by_kind["correction"]["correction"] == "A better answer."
    assert len(_feedback_items(moto_stack, {cid})) == 4


def test_repeat_answers_the_first_result(local_api, seed_completion, moto_stack):
    cid = seed_completion()
    body = {"completion_id": cid, "thumbs": "up"}
    with httpx.Client(timeout=60) as client:
        first = _post(client, f"{local_api.url}/feedback", local_api.api_key, body)
        second = _post(client, f"{local_api.url}/feedback", local_api.api_key, body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(_feedback_items(moto_stack, {cid})) == 1
    assert len(_lake_records(moto_stack, {cid})) == 1


@pytest.mark.parametrize("body, status, needle", [
    ({"completion_id": "chatcmpl-unknown", "thumbs": "up"}, 404, "no completion"),
    ({"thumbs": "up"}, 400, "completion_id"),
    ({"completion_id": "x", "thumbs": "up", "rating": 5}, 400, "exactly one"),
    ({"completion_id": "x"}, 400, "exactly one"),
    ({"completion_id": "x", "rating": 6}, 400, "rating"),
    ({"completion_id": "x", "rating": True}, 400, "rating"),
    ({"completion_id": "x", "thumbs": "sideways"}, 400, "thumbs"),
    ({"completion_id": "x", "correction": "   "}, 400, "correction"),
    ({"completion_id": "x", "thumbs": "up", "mood": "happy"}, 400, "mood"),
])
def test_bad_feedback_is_refused_with_a_reason(local_api, body, status, needle):
    answer = httpx.post(f"{local_api.url}/feedback", json=body, headers={"x-api-key": local_api.api_key},
                        timeout=60)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert needle in error["message"]


def test_choice_must_exist_in_the_completion(local_api, seed_completion):
    single, pair = seed_completion(n=1), seed_completion(n=2)
    url, headers = f"{local_api.url}/feedback", {"x-api-key": local_api.api_key}
    comparison = httpx.post(url, json={"completion_id": single, "preferred_choice": 0}, headers=headers, timeout=60)
    out_of_range = httpx.post(url, json={"completion_id": pair, "thumbs": "up", "choice_index": 2},
                              headers=headers, timeout=60)
    assert comparison.status_code == 400 and "n >= 2" in comparison.json()["error"]["message"]
    assert out_of_range.status_code == 400 and out_of_range.json()["error"]["param"] == "choice_index"


def _semantic(body: dict) -> str:
    """What makes two posts the same feedback: a verdict without choice_index is about choice 0."""
    if "preferred_choice" not in body:
        body = {"choice_index": 0, **body}
    return json.dumps(body, sort_keys=True)


def _load(local_api, seed_completion, moto_stack, total: int) -> None:
    rng = random.Random(total)
    completions = [seed_completion(n=2) for _ in range(max(total // 25, 4))]
    unique: list[dict] = []
    seen = set()
    while len(unique) < total * 4 // 5:
        cid = rng.choice(completions)
        kind = rng.choice(["thumbs", "rating", "preferred_choice", "correction"])
        value = {"thumbs": lambda: rng.choice(["up", "down"]), "rating": lambda: rng.randint(1, 5),
                 "preferred_choice": lambda: rng.randint(0, 1),
                 "correction": lambda: f"better answer {rng.randint(0, 10**9)}"}[kind]()
        body = {"completion_id": cid, kind: value}
        if kind != "preferred_choice" and rng.random() < 0.5:
            body["choice_index"] = rng.randint(0, 1)
        canon = _semantic(body)
        if canon not in seen:
            seen.add(canon)
            unique.append(body)
    posts = unique + [rng.choice(unique) for _ in range(total - len(unique))]  # 20% duplicates
    rng.shuffle(posts)

    started = time.perf_counter()
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=64)) as client, \
            ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(lambda b: _post(client, f"{local_api.url}/feedback", local_api.api_key, b), posts))
    elapsed = time.perf_counter() - started
    print(f"{total} feedback posts in {elapsed:.1f}s ({total / elapsed:.0f}/s)")

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: total}, statuses
    # A duplicate is answered with the first post's feedback id.
    ids_by_body: dict[str, set[str]] = {}
    for body, answer in zip(posts, answers, strict=True):
        ids_by_body.setdefault(_semantic(body), set()).add(answer.json()["id"])
    assert all(len(ids) == 1 for ids in ids_by_body.values())
    expected = {ids.pop() for ids in ids_by_body.values()}
    assert len(expected) == len(unique)

    stored = Counter(i["feedback_id"]["S"] for i in _feedback_items(moto_stack, set(completions)))
    assert set(stored) == expected and max(stored.values()) == 1
    lake = Counter(r["feedback_id"] for r in _lake_records(moto_stack, set(completions)))
    assert set(lake) == expected, f"lost {len(expected - set(lake))}, extra {len(set(lake) - expected)}"
    assert max(lake.values()) == 1, f"delivered twice: {[k for k, v in lake.items() if v > 1][:5]}"


def test_concurrent_feedback_with_duplicates_is_stored_exactly_once(local_api, seed_completion, moto_stack):
    _load(local_api, seed_completion, moto_stack, total=500)


@pytest.mark.slow
def test_5000_concurrent_feedback_posts_exactly_once(local_api, seed_completion, moto_stack):
    _load(local_api, seed_completion, moto_stack, total=5000)
