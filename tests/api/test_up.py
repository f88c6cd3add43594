"""`flywheel up`: the whole local API as a user starts it, from the console script, until interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from flywheel.local.api import main


def test_up_says_clearly_when_there_is_no_model(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "no trained model to serve" in capsys.readouterr().out


def test_up_serves_the_openai_client_until_interrupted(tiny_artifact, tmp_path):
    env = {**os.environ, "FLYWHEEL_API_KEY": "up-test-key", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "flywheel.cli", "up", "--port", "0", "--model",
                                    str(tiny_artifact), "--stack", "uptest"], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C stops it" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        text = log.read_text()
        url = text.split("API      ", 1)[1].split()[0]
        assert "API key  up-test-key" in text
        client = openai.OpenAI(base_url=url, api_key="up-test-key", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list()] == ["flywheel", "test-v1"]
        assert client.moderations.create(input="I will kill you").results[0].flagged
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("flywheel up did not stop within 90 s of Ctrl-C; its log ends:\n" + log.read_text()[-3000:])
    assert "flywheel up: stopped" in Path(log).read_text()
