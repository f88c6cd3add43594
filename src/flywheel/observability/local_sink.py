"""The local EMF bridge: embedded-metric-format log lines → CloudWatch metrics in moto, and back.

In AWS, CloudWatch Logs extracts every embedded-metric-format (EMF) document a Lambda or a SageMaker
container prints and publishes its metrics. On a laptop nothing does, so this module plays that part:

- Parsing and publishing are `flywheel.observability.emf`'s (`parse_emf`, `EmfBridge`, re-exported
  here), the same code the EMF forwarder Lambda runs in AWS.
- `capture_stdout()` redirects this process's file descriptor 1 into the bridge, so child processes
  started inside the block (the local API's Lambda workers, the inference server) have their EMF
  published and every line kept, like a log group, in `bridge.log_lines`; `echo_emf=False` shows a
  terminal only the ordinary lines. `tail_file(path, bridge)` follows a log file another process
  writes (the inference server's) into the bridge, as the CloudWatch agent follows a file.
- `read_back(names, since, until)` asks `get_metric_data` for each catalogue metric under its `service`
  roll-up — the dimension set the AWS dashboard and alarms read — and returns
  `{metric: {"SampleCount", "Sum", "Average", "Minimum", "Maximum", "Unit"}}` for those with data.
  moto computes no percentiles, so none are asked for.

Knows the catalogue and boto3; nothing about the API, the turn or the report.

    from flywheel.observability.local_sink import capture_stdout, read_back
    since = time.time()
    with capture_stdout() as bridge:      # AWS variables must point at the moto stack
        ...                               # start processes, make requests
    stats = read_back(bridge.published_names, since, time.time())

    python -m flywheel.observability.local_sink api.log serve.log --since 1795820000   # AWS_ENDPOINT_URL set
"""

from __future__ import annotations

import json
import math
import os
import select
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flywheel.observability.catalogue import NAMESPACE, SERVICE, metric
from flywheel.observability.emf import EmfBridge, EmfError, parse_emf

__all__ = ["EmfBridge", "EmfError", "capture_stdout", "parse_emf", "read_back", "tail_file"]

STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")

def _pump(read_fd: int, bridge: EmfBridge, echo_fd: int | None, stop: threading.Event,
          echo_emf: bool = True) -> None:
    """Read lines from a pipe into the bridge (echoing them) until `stop` and no more data arrives."""
    buf = b""
    while True:
        ready, _, _ = select.select([read_fd], [], [], 0.05)
        if not ready:
            if stop.is_set():
                break
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        if echo_fd is not None and echo_emf:
            os.write(echo_fd, chunk)
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if not bridge.feed(line) and echo_fd is not None and not echo_emf:
                os.write(echo_fd, line + b"\n")
    if buf and not bridge.feed(buf) and echo_fd is not None and not echo_emf:
        os.write(echo_fd, buf)


def tail_file(path: str | Path, bridge: EmfBridge, stop: threading.Event, *, poll_s: float = 0.2) -> None:
    """Feed the lines another process appends to `path` into the bridge, from its start, until `stop`
    (then whatever is left). Run it in a thread; a line is fed once it is complete."""
    path = Path(path)
    while not path.exists():
        if stop.wait(poll_s):
            return
    with open(path, "rb") as f:
        buf = b""
        while True:
            chunk = f.read(65536)
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                bridge.feed_lines(lines)
                continue
            if stop.is_set():
                break
            stop.wait(poll_s)
        if buf:
            bridge.feed(buf)


@contextmanager
def capture_stdout(bridge: EmfBridge | None = None, *, echo: bool = True, echo_emf: bool = True
                   ) -> Iterator[EmfBridge]:
    """Route file descriptor 1 of this process, and of children started inside the block, into a bridge.

    Sets PYTHONUNBUFFERED for the block so spawned Python children write line by line. On exit fd 1 is
    restored, lines that arrive within 50 ms are still read, and everything queued is published.
    Children still alive keep writing into the closed pipe's void: stop them inside the block.
    """
    bridge = bridge or EmfBridge()
    sys.stdout.flush()
    saved = os.dup(1)
    read_fd, write_fd = os.pipe()
    old_unbuffered = os.environ.get("PYTHONUNBUFFERED")
    os.environ["PYTHONUNBUFFERED"] = "1"
    stop = threading.Event()
    thread = threading.Thread(target=_pump, args=(read_fd, bridge, saved if echo else None, stop, echo_emf),
                              name="emf-bridge", daemon=True)
    os.dup2(write_fd, 1)
    os.close(write_fd)
    thread.start()
    try:
        yield bridge
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        stop.set()
        thread.join(timeout=5)
        os.close(read_fd)
        os.close(saved)
        if old_unbuffered is None:
            os.environ.pop("PYTHONUNBUFFERED", None)
        else:
            os.environ["PYTHONUNBUFFERED"] = old_unbuffered
        bridge.flush()


def _epoch(t: float | datetime) -> datetime:
    return t if isinstance(t, datetime) else datetime.fromtimestamp(t, tz=UTC)


def read_back(names: Iterable[str], since: float | datetime, until: float | datetime, *, client: Any = None,
              namespace: str = NAMESPACE) -> dict[str, dict[str, float | str]]:
    """Statistics of each catalogue metric over [since, until), read from CloudWatch under its
    `service` roll-up (what the dashboard's tiles and the alarms read). Metrics without data are left out.

    `since`/`until` are epoch seconds or aware datetimes. One period spans the whole window (rounded up
    to whole minutes, as CloudWatch requires), and the periods returned are combined, so the numbers do
    not depend on where period boundaries fall.
    """
    start = _epoch(since).replace(microsecond=0)
    end = _epoch(until)
    if end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)  # CloudWatch takes whole seconds
    if end <= start:
        raise ValueError(f"read_back: until ({end}) must be after since ({start})")
    period = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    metrics = [metric(n) for n in sorted(set(names))]
    queries, index = [], {}
    for i, m in enumerate(metrics):
        for stat in STATISTICS:
            qid = f"m{i}_{stat.lower()}"
            index[qid] = (m.name, stat)
            queries.append({"Id": qid, "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": m.name,
                           "Dimensions": [{"Name": SERVICE, "Value": m.layer}]},
                "Period": period, "Stat": stat}})
    raw: dict[str, dict[str, list[float]]] = {}
    for i in range(0, len(queries), 500):  # get_metric_data takes at most 500 queries
        token = None
        while True:
            kwargs = {"MetricDataQueries": queries[i:i + 500], "StartTime": start, "EndTime": end}
            if token:
                kwargs["NextToken"] = token
            answer = client.get_metric_data(**kwargs)
            for result in answer["MetricDataResults"]:
                name, stat = index[result["Id"]]
                raw.setdefault(name, {}).setdefault(stat, []).extend(result.get("Values", []))
            token = answer.get("NextToken")
            if not token:
                break
    out: dict[str, dict[str, float | str]] = {}
    for m in metrics:
        got = raw.get(m.name, {})
        count = sum(got.get("SampleCount", []))
        if not count:
            continue
        total = sum(got.get("Sum", []))
        out[m.name] = {"SampleCount": count, "Sum": total, "Average": total / count,
                       "Minimum": min(got["Minimum"]), "Maximum": max(got["Maximum"]), "Unit": m.unit}
    return out


def main(argv: list[str] | None = None) -> int:
    """Publish the EMF lines of log files to the CloudWatch the environment names, and print the
    statistics read back for the metrics they held (JSON on stdout; malformed lines counted on stderr)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m flywheel.observability.local_sink",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="log files holding EMF lines among ordinary ones")
    parser.add_argument("--since", type=float, default=0.0, help="epoch seconds; the window's start")
    args = parser.parse_args(argv)
    bridge = EmfBridge(keep_logs=False)
    for path in args.logs:
        bridge.feed_file(path)
    bridge.flush()
    if bridge.malformed:
        print(json.dumps({"malformed": dict(bridge.malformed)}), file=sys.stderr)
    stats = read_back(bridge.published_names, args.since, time.time() + 1, client=bridge.client) \
        if bridge.published_names else {}
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
