"""The local EMF bridge against a real moto server: lines in, `get_metric_data` numbers out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from flywheel.observability.catalogue import emf_document, emf_line
from flywheel.observability.local_sink import EmfBridge, EmfError, capture_stdout, parse_emf, read_back


def test_parse_emf_one_datum_per_dimension_set():
    line = emf_line("Latency", [100.0, 300.0, 100.0], {"Route": "chat", "ModelVersion": "v1"},
                    properties={"request_id": "r-1"})
    data = parse_emf(line)
    sets = sorted(tuple(d["Name"] for d in datum["Dimensions"]) for _, datum in data)
    assert sets == [("service",), ("service", "Route"), ("service", "Route", "ModelVersion")]
    _, datum = data[0]
    assert dict(zip(datum["Values"], datum["Counts"])) == {100.0: 2.0, 300.0: 1.0}
    assert datum["Unit"] == "Milliseconds"


@pytest.mark.parametrize("line", ["plain text log", '{"level": "INFO", "message": "hi"}', "{not json", ""])
def test_ordinary_log_lines_are_not_metrics(line):
    assert parse_emf(line) is None


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
    (lambda d: d.pop("Route"), "Route"),
    (lambda d: d.__setitem__("Latency", "fast"), "finite number"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].__setitem__("Unit", "Parsecs"), "unit"),
    (lambda d: d["_aws"].__setitem__("CloudWatchMetrics", []), "CloudWatchMetrics"),
])
def test_malformed_emf_is_counted_with_its_reason(mutate, reason):
    doc = emf_document("Latency", 5.0, {"Route": "chat", "ModelVersion": "v1"})
    mutate(doc)
    with pytest.raises(EmfError, match=reason):
        parse_emf(json.dumps(doc))
    bridge = EmfBridge(client=object())  # never flushed: nothing valid to publish
    assert bridge.feed(json.dumps(doc)) is False
    assert sum(bridge.malformed.values()) == 1 and reason in next(iter(bridge.malformed))


def test_bridge_publishes_and_read_back_matches(moto_stack):
    cw = moto_stack.client("cloudwatch")
    since = time.time()
    version = f"v-{time.time_ns()}"  # the roll-up is shared by the session: use a window of our own
    bridge = EmfBridge(client=cw)
    lines = [emf_line("TokensOut", n, {"ModelVersion": version}) for n in (10, 20, 30)]
    lines += [emf_line("Feedback", 1, {"Kind": "thumbs", "Rating": r, "ModelVersion": version})
              for r in ("up", "down", "down")]
    lines += ["START RequestId: x", '{"_aws": {"Timestamp": "soon"}}']
    assert bridge.feed_lines(lines) == 6
    assert bridge.malformed and sum(bridge.malformed.values()) == 1
    assert bridge.flush() > 0
    assert bridge.published_names == {"TokensOut", "Feedback"}
    got = read_back(bridge.published_names, since, time.time() + 1, client=cw)
    assert got["TokensOut"]["SampleCount"] == 3 and got["TokensOut"]["Sum"] == 60
    assert got["TokensOut"]["Minimum"] == 10 and got["TokensOut"]["Maximum"] == 30
    assert got["TokensOut"]["Average"] == pytest.approx(20)
    assert got["Feedback"]["Sum"] == 3
    # The detailed set carries the same numbers, as the dashboard's breakdowns would show.
    detail = cw.get_metric_data(StartTime=since - 1, EndTime=time.time() + 60, MetricDataQueries=[{
        "Id": "down", "MetricStat": {"Period": 60, "Stat": "Sum", "Metric": {
            "Namespace": "Flywheel", "MetricName": "Feedback", "Dimensions": [
                {"Name": "service", "Value": "api"}, {"Name": "Kind", "Value": "thumbs"},
                {"Name": "Rating", "Value": "down"}, {"Name": "ModelVersion", "Value": version}]}}}])
    assert sum(detail["MetricDataResults"][0]["Values"]) == 2


def test_read_back_rejects_unknown_metric_and_empty_window(moto_stack):
    cw = moto_stack.client("cloudwatch")
    with pytest.raises(KeyError):
        read_back(["NoSuchMetric"], 0, 100, client=cw)
    with pytest.raises(ValueError):
        read_back(["Requests"], 100, 100, client=cw)
    assert read_back(["Rollbacks"], 1_000_000, 1_000_100, client=cw) == {}


def test_capture_stdout_publishes_a_child_process_emf(moto_stack):
    """A child started inside the block prints EMF on stdout, as a Lambda or the inference server does."""
    cw = moto_stack.client("cloudwatch")
    since = time.time()
    code = ("from flywheel.observability.catalogue import emf_line\n"
            "print('an ordinary log line')\n"
            "for v in (7, 9): print(emf_line('QueueDepth', v))\n")
    with capture_stdout(EmfBridge(client=cw), echo=False) as bridge:
        subprocess.run([sys.executable, "-c", code], check=True)
        os.write(1, b"parent line\n")  # pytest swaps sys.stdout; the descriptor is what children share
    assert "an ordinary log line" in bridge.log_lines and "parent line" in bridge.log_lines
    assert bridge.documents == 2
    got = read_back(["QueueDepth"], since, time.time() + 1, client=cw)
    assert got["QueueDepth"]["SampleCount"] >= 2 and got["QueueDepth"]["Maximum"] >= 9


def test_command_line_publishes_log_files_and_prints_read_back(tmp_path, moto_stack):
    log = tmp_path / "api.log"
    log.write_text("\n".join(["INIT_START", emf_line("Rollbacks", 1, {"ModelVersion": "v-cli"}),
                              emf_line("Rollbacks", 2, {"ModelVersion": "v-cli"}), '{"_aws": 3}']) + "\n")
    since = time.time() - 1
    done = subprocess.run([sys.executable, "-m", "flywheel.observability.local_sink", str(log), "--since", str(since)],
                          env={**os.environ, **moto_stack.env()}, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["Rollbacks"]["Sum"] >= 3 and stats["Rollbacks"]["Unit"] == "Count"
    assert "_aws is not an object" in done.stderr
