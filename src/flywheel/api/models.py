"""`GET /v1/models` and `GET /v1/models/{id}`: what a caller may name in `model`, in OpenAI's shape.

The alias `flywheel` (routed between champion and canary) and each deployed version, read from the
routing configuration; an unknown id is a 404 `model_not_found`.
"""

from __future__ import annotations

from typing import Any

from flywheel.api.errors import NotFound
from flywheel.api.routing import ALIAS, read_routing

OWNER = "flywheel"


def _card(model_id: str, created: int, arm: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": OWNER, "flywheel_arm": arm}


def list_models(routing_table: str) -> dict[str, Any]:
    routing = read_routing(routing_table)
    # The record's last transition is when the current versions started serving.
    created = int(routing.history[-1].get("at", 0)) if routing.history else 0
    cards = [_card(ALIAS, created, "routed"), _card(routing.champion, created, "champion")]
    if routing.canary is not None:
        cards.append(_card(routing.canary, created, "canary"))
    return {"object": "list", "data": cards}


def get_model(routing_table: str, model_id: str) -> dict[str, Any]:
    for card in list_models(routing_table)["data"]:
        if card["id"] == model_id:
            return card
    raise NotFound(f"the model {model_id!r} does not exist", param="model", code="model_not_found")
