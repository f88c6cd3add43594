"""The handlers' metrics are valid EMF under the catalogue's names: published through the local EMF
bridge (CloudWatch Logs' part) into moto's CloudWatch and read back under the dashboard's roll-up."""

from __future__ import annotations

import time

import httpx

from flywheel.local.api import LocalApi
from flywheel.observability.local_sink import capture_stdout, read_back


def test_requests_feedback_and_errors_reach_cloudwatch(api_env, routed, seed_completion):
    completion = seed_completion(n=2)
    since = time.time()
    with capture_stdout(echo=False) as bridge, LocalApi(api_env, workers=1).start() as api:
        headers = {"x-api-key": api.api_key}
        assert httpx.post(f"{api.url}/moderations", json={"input": "I will kill you"}, headers=headers,
                          timeout=60).status_code == 200
        assert httpx.post(f"{api.url}/feedback", json={"completion_id": completion, "rating": 2},
                          headers=headers, timeout=60).status_code == 200
        assert httpx.post(f"{api.url}/feedback", json={"completion_id": completion}, headers=headers,
                          timeout=60).status_code == 400
    stats = read_back(["Requests", "Feedback", "Errors", "ModerationFlags"], since, time.time() + 1)
    assert not bridge.malformed, bridge.malformed
    assert stats["Requests"]["Sum"] >= 2  # moderation and feedback
    assert stats["Feedback"]["Sum"] >= 1
    assert stats["Errors"]["Sum"] >= 1  # the 400
    assert stats["ModerationFlags"]["Sum"] >= 1
