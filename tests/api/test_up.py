"""`flywheel up`: the whole local API as a user starts it, from the console script, until interrupted;
and its dashboard, opened in a real headless Chromium.

One `flywheel up` process serves the module (it is the slow part); its fixture's teardown is the
Ctrl-C test. The browser test needs the `playwright` package and a Chromium on PATH (Debian: `apt-get
install chromium`; `make test` installs it when it can, or name one in FLYWHEEL_CHROMIUM). Without a
browser it skips with the reason, except under CI (`CI` set), where a missing browser fails.

    .venv/bin/python -m pytest -q tests/api/test_up.py
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest

from flywheel.local.api import main

KEY = "up-test-key"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def test_up_says_clearly_when_there_is_no_model(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "no trained model to serve" in capsys.readouterr().out


@pytest.fixture(scope="module")
def up(tiny_artifact, compact_safety_config, tmp_path_factory):
    """`flywheel up` on a free port; stopped with SIGINT (Ctrl-C) at the end, which must stop it cleanly.
    The short policy lets a chat prompt fit the tiny model's 64-token context."""
    tmp = tmp_path_factory.mktemp("up")
    env = {**os.environ, "FLYWHEEL_API_KEY": KEY, "PYTHONUNBUFFERED": "1",
           "FLYWHEEL_SAFETY_CONFIG": str(compact_safety_config)}
    log = tmp / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "flywheel.cli", "up", "--port", "0", "--model",
                                    str(tiny_artifact), "--stack", "uptest"], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=tmp)
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C stops it" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        text = log.read_text()
        yield {"url": text.split("API       ", 1)[1].split()[0], "dashboard": text.split("Dashboard ", 1)[1].split()[0],
               "banner": text, "log": log}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("flywheel up did not stop within 90 s of Ctrl-C; its log ends:\n" + log.read_text()[-3000:])
    assert "flywheel up: stopped" in Path(log).read_text()


def test_up_serves_the_openai_client_until_interrupted(up):
    assert f"API key   {KEY}" in up["banner"]
    client = openai.OpenAI(base_url=up["url"], api_key=KEY, max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == ["flywheel", "test-v1"]
    assert client.moderations.create(input="I will kill you").results[0].flagged
    # The terminal shows the handlers' ordinary lines, not their metric documents (those go to CloudWatch).
    assert '"_aws"' not in up["log"].read_text()


def test_dashboard_data_needs_the_key_and_files_are_local(up):
    base = up["dashboard"].split("#", 1)[0].removesuffix("/dashboard")
    assert up["dashboard"].endswith(f"#key={KEY}")
    page = httpx.get(f"{base}/dashboard", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Nothing on the page comes from elsewhere: every src/href is a path on this server.
    for attr in ("src=", "href="):
        for part in page.text.split(attr)[1:]:
            assert part[1] == "/", part[:40]
    assert httpx.get(f"{base}/dashboard/dashboard.js", timeout=30).status_code == 200
    assert httpx.get(f"{base}/dashboard/nope.js", timeout=30).status_code == 404
    assert httpx.get(f"{base}/dashboard/data", timeout=30).status_code == 403
    bad = httpx.get(f"{base}/dashboard/data?minutes=x", headers={"x-api-key": KEY}, timeout=30)
    assert bad.status_code == 400 and "minutes" in bad.json()["message"]
    data = httpx.get(f"{base}/dashboard/data?minutes=15", headers={"x-api-key": KEY}, timeout=60).json()
    assert {m["name"] for m in data["metrics"]} >= {"Requests", "Latency", "TimeToFirstToken", "Feedback"}


def _browser() -> tuple[str | None, str]:
    """(path of a Chromium, why not) for playwright to drive."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "the playwright package is not installed (pip install -e '.[dev]')"
    named = os.environ.get("FLYWHEEL_CHROMIUM")
    for candidate in ((named,) if named else BROWSERS):
        path = shutil.which(candidate)
        if path:
            return path, ""
    return None, f"no Chromium found (looked for {named or ', '.join(BROWSERS)}; `apt-get install chromium`)"


@pytest.fixture(scope="module")
def chromium():
    path, why = _browser()
    if path is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set but the dashboard cannot be tested in a browser: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: Chromium refuses to run its sandbox as root (containers, CI runners).
        browser = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def test_dashboard_in_a_real_browser(chromium, up):  # the browser first: a skip then starts nothing
    client = openai.OpenAI(base_url=up["url"], api_key=KEY, max_retries=0, timeout=120)
    prompt = f"What is a dict? ({uuid.uuid4().hex[:6]})"
    answer = client.chat.completions.create(model="flywheel", messages=[{"role": "user", "content": prompt}],
                                            max_tokens=6)
    refused = httpx.post(f"{up['url']}/chat/completions", headers={"x-api-key": KEY}, timeout=60,
                         json={"model": "flywheel", "messages": [{"role": "user", "content": "I will kill you"}]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_filter"
    feedback = httpx.post(f"{up['url']}/feedback", headers={"x-api-key": KEY}, timeout=60,
                          json={"completion_id": answer.id, "thumbs": "down"})
    assert feedback.status_code == 200, feedback.text

    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    base = up["dashboard"].split("/dashboard", 1)[0]
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.goto(up["dashboard"])
    # The page refreshes every 5 s; the metrics reach CloudWatch within a second or two of being printed.
    page.wait_for_function(
        """([id]) => {
            const total = (m) => Number(document.querySelector(`figure[data-metric="${m}"]`)?.dataset.total || 0);
            const row = document.querySelector(`tr[data-completion-id="${id}"]`);
            const points = (m) => Number(document.querySelector(`figure[data-metric="${m}"]`)?.dataset.points || 0);
            return document.body.dataset.state === "ready" && total("Requests") >= 2 && total("Feedback") >= 1
                && total("ModerationFlags") >= 1 && points("TimeToFirstToken") >= 1
                && row && row.querySelector('[data-field="feedback"]').textContent.includes("thumbs");
        }""", arg=[answer.id], timeout=90_000)

    charts = page.eval_on_selector_all("figure.chart", """figs => figs.map(f => ({
        metric: f.dataset.metric, points: Number(f.dataset.points), total: f.dataset.total,
        dots: [...f.querySelectorAll('svg circle')].map(c => Number(c.dataset.value)),
        paths: f.querySelectorAll('svg path').length}))""")
    by_metric = {c["metric"]: c for c in charts}
    for name in ("Requests", "Latency", "TokensIn", "TokensOut", "ModerationFlags", "Feedback",
                 "TimeToFirstToken", "ModelLoads"):
        chart = by_metric[name]
        assert chart["points"] > 0 and chart["paths"] >= 1, (name, chart)
        assert any(v > 0 for v in chart["dots"]), (name, chart)
    # Counts are drawn as they were read back: the chart's dots add up to its total.
    requests = by_metric["Requests"]
    assert float(requests["total"]) >= 2
    latency = page.eval_on_selector('figure[data-metric="Latency"] .percentiles', "e => e.textContent")
    assert "p99" in latency and "p50" in latency

    row = page.eval_on_selector(f'tr[data-completion-id="{answer.id}"]', """tr => Object.fromEntries(
        [...tr.querySelectorAll('[data-field]')].map(td => [td.dataset.field, td.textContent]))""")
    assert row["prompt"] == prompt
    assert row["answer"] == answer.choices[0].message.content
    assert row["moderation"].startswith("not flagged")
    assert row["feedback"] == "thumbs: down on choice 0"
    assert "passed" in row["output"] or "withheld" in row["output"]
    assert errors == [] and outside == [], (errors, outside)
    page.close()

    # What the page drew is what the data endpoint serves (read back from CloudWatch, not made up).
    data = httpx.get(f"{base}/dashboard/data", headers={"x-api-key": KEY}, timeout=60).json()
    served = {m["name"]: m for m in data["metrics"]}
    assert served["Requests"]["total"] >= float(requests["total"])
    assert json.dumps(served["Feedback"]["series"]).count('"Rating": "down"') >= 1
