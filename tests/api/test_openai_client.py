"""The official `openai` client against the local API, changed only by `base_url` (and the key).

Moderations and models run against the real moderation and models handlers. Chat needs the real
inference server and the local SageMaker endpoint (`flywheel.local.endpoint`) with a model in the
lake: the `tiny_artifact` fixture packed and uploaded to `models/`, and routed as the champion.
"""

from __future__ import annotations

import openai
import pytest

from flywheel.safety import CATEGORIES


@pytest.fixture(scope="module")
def client(local_api) -> openai.OpenAI:
    return openai.OpenAI(base_url=local_api.url, api_key=local_api.api_key, max_retries=0, timeout=60)


def test_moderations_in_openai_shape(client):
    answer = client.moderations.create(input=["I will kill you and your whole family tonight.",
                                              "How do I kill a Python process that hangs?"])
    threat, benign = answer.results
    assert threat.flagged and not benign.flagged
    assert threat.categories.violence or threat.categories.harassment_threatening
    scores = threat.category_scores.model_dump(by_alias=True)
    assert set(CATEGORIES) <= set(scores)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert answer.id.startswith("modr-")


def test_moderation_refuses_bad_input_with_a_reason(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.moderations.create(input=[])
    assert "input" in caught.value.message


def test_models_list_and_retrieve(client, routed):
    ids = [m.id for m in client.models.list()]
    assert ids[:2] == ["flywheel", routed.champion]
    assert client.models.retrieve(routed.champion).id == routed.champion
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_wrong_key_is_refused_like_api_gateway(local_api):
    wrong = openai.OpenAI(base_url=local_api.url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        wrong.models.list()
