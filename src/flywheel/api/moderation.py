"""`POST /v1/moderations` in OpenAI's shapes, answered by `flywheel.safety.moderate`.

Each input text gets OpenAI's result object: `flagged`, `categories` (booleans) and `category_scores`
for the thirteen OpenAI categories, plus `category_applied_input_types` (always `["text"]`: only text
is accepted). The safety library decides; this module only shapes its answer.
"""

from __future__ import annotations

import uuid
from typing import Any

from flywheel.api.schemas import ModerationRequest
from flywheel.api.telemetry import emit
from flywheel.safety import moderate as judge

MODEL = "flywheel-moderation"
ROUTE = "moderation"


def moderate(request: ModerationRequest) -> dict[str, Any]:
    results = []
    for text in request.texts:
        verdict = judge(text)
        categories = {str(k): bool(v) for k, v in verdict.categories.items()}
        scores = {str(k): float(verdict.category_scores.get(k, 0.0)) for k in categories}
        results.append({"flagged": bool(verdict.flagged), "categories": categories, "category_scores": scores,
                        "category_applied_input_types": {k: ["text"] for k in categories}})
        for category in (k for k, v in categories.items() if v):
            emit("ModerationFlags", 1, Direction="moderation", Category=category, ModelVersion=MODEL)
    emit("Requests", 1, Route=ROUTE, ModelVersion=MODEL)
    return {"id": f"modr-{uuid.uuid4().hex}", "model": request.model or MODEL, "results": results}
