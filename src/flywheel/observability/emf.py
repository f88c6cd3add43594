"""Embedded metric format (EMF) → CloudWatch metrics: what CloudWatch Logs does with a Lambda's EMF lines.

In AWS only Lambda's EMF becomes metrics by itself. The same code turns EMF lines into
`put_metric_data` calls in two places: the local bridge (`flywheel.observability.local_sink`, against
moto on a laptop) and the EMF forwarder Lambda (`functions/emf_forwarder`), which CloudWatch Logs
subscription filters feed with the SageMaker endpoint's, training jobs' and processing jobs' lines.

- `parse_emf(line)` checks one line the way CloudWatch does (a JSON object with `_aws.Timestamp` and
  `_aws.CloudWatchMetrics[]` whose every `Dimensions` key and `Metrics[].Name` is a member of the
  document) and turns it into `MetricDatum` dicts for `put_metric_data`, one per metric and dimension set.
  A line that is not JSON, or JSON without `_aws`, is an ordinary log line; an `_aws` document that
  breaks the rules is malformed (CloudWatch drops those too) and is counted with its reason.
- `EmfBridge` feeds lines (`feed`, `feed_lines`, `feed_file`) and publishes in batches (`flush`); with
  `namespaces` set, documents in any other namespace are counted as dropped rather than published
  (the forwarder may only write its own namespace).

Knows the catalogue's units and boto3's `put_metric_data` shape; the client is passed in or built on
first flush from the environment. Nothing about processes, files being followed, or Lambda.

    bridge = EmfBridge(client=boto3.client("cloudwatch"))
    bridge.feed_lines(lines); bridge.flush(); bridge.malformed      # Counter: reason -> lines
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel.observability.catalogue import UNITS

# put_metric_data: at most 1000 datums per call, 150 distinct values per datum.
_MAX_DATUMS = 1000
_MAX_VALUES = 150


class EmfError(ValueError):
    """An `_aws` document that is not valid embedded metric format; the message says why."""


def parse_emf(line: str | bytes) -> list[tuple[str, dict[str, Any]]] | None:
    """(namespace, MetricDatum) pairs of one EMF line; None for an ordinary log line; EmfError if malformed."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or "_aws" not in doc:
        return None
    aws = doc["_aws"]
    if not isinstance(aws, dict):
        raise EmfError("_aws is not an object")
    stamp = aws.get("Timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        raise EmfError("_aws.Timestamp is missing or not a number (epoch milliseconds)")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        raise EmfError("_aws.CloudWatchMetrics is missing or empty")
    when = datetime.fromtimestamp(stamp / 1000, tz=UTC)
    out: list[tuple[str, dict[str, Any]]] = []
    for directive in directives:
        if not isinstance(directive, dict):
            raise EmfError("a CloudWatchMetrics entry is not an object")
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not namespace:
            raise EmfError("a CloudWatchMetrics entry has no Namespace")
        dim_sets = directive.get("Dimensions", [[]])
        if not isinstance(dim_sets, list) or not all(isinstance(s, list) for s in dim_sets):
            raise EmfError("Dimensions must be a list of lists of keys")
        resolved = []
        for keys in dim_sets:
            if len(keys) > 30:
                raise EmfError("a dimension set has more than 30 keys")
            dims = []
            for key in keys:
                value = doc.get(key) if isinstance(key, str) else None
                if not isinstance(value, str) or not value:
                    raise EmfError(f"dimension {key!r} is not a non-empty string member of the document")
                dims.append({"Name": key, "Value": value})
            resolved.append(dims)
        for entry in directive.get("Metrics") or []:
            name = entry.get("Name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or name not in doc:
                raise EmfError(f"metric {name!r} is not a member of the document")
            unit = entry.get("Unit", "None")
            if unit not in UNITS and unit not in ("Bits", "Gigabytes", "Terabytes"):
                raise EmfError(f"metric {name}: unit {unit!r} is not a CloudWatch unit")
            raw = doc[name]
            values = raw if isinstance(raw, list) else [raw]
            if not values or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                                 for v in values):
                raise EmfError(f"metric {name}: value {raw!r} is not a finite number or a list of them")
            counts = Counter(float(v) for v in values)
            for dims in resolved:
                distinct = list(counts.items())
                for i in range(0, len(distinct), _MAX_VALUES):
                    chunk = distinct[i:i + _MAX_VALUES]
                    out.append((namespace, {
                        "MetricName": name, "Dimensions": dims, "Timestamp": when, "Unit": unit,
                        "Values": [v for v, _ in chunk], "Counts": [float(c) for _, c in chunk]}))
    return out


@dataclass
class EmfBridge:
    """Publishes the EMF documents among log lines to CloudWatch (moto locally) with `put_metric_data`."""

    client: Any = None  # a boto3 CloudWatch client; built from the environment on first flush if None
    keep_logs: bool = True
    log_lines: list[str] = field(default_factory=list)
    malformed: Counter = field(default_factory=Counter)  # reason -> lines dropped
    documents: int = 0
    published_names: set[str] = field(default_factory=set)
    namespaces: frozenset[str] | None = None  # publish only these; None: every namespace
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def feed(self, line: str | bytes) -> bool:
        """One log line; True when it was an EMF document queued for publishing."""
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        with self._lock:
            if self.keep_logs:
                self.log_lines.append(text.rstrip("\n"))
            try:
                data = parse_emf(text)
            except EmfError as exc:
                self.malformed[str(exc)] += 1
                return False
            if data is None:
                return False
            refused = {ns for ns, _ in data if self.namespaces is not None and ns not in self.namespaces}
            if refused:
                self.malformed[f"namespace {', '.join(sorted(refused))} is not forwarded"] += 1
                return False
            self.documents += 1
            for namespace, datum in data:
                self._pending.setdefault(namespace, []).append(datum)
            return True

    def feed_lines(self, lines: Iterable[str | bytes]) -> int:
        return sum(self.feed(line) for line in lines)

    def feed_file(self, path: str | Path) -> int:
        with open(path, encoding="utf-8", errors="replace") as f:
            return self.feed_lines(f)

    def flush(self) -> int:
        """Publish what is queued; returns the number of datums sent."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        if self.client is None:
            import boto3

            self.client = boto3.client("cloudwatch")
        sent = 0
        for namespace, data in pending.items():
            for i in range(0, len(data), _MAX_DATUMS):
                batch = data[i:i + _MAX_DATUMS]
                self.client.put_metric_data(Namespace=namespace, MetricData=batch)
                sent += len(batch)
                self.published_names.update(d["MetricName"] for d in batch)
        return sent


def forward(messages: Iterable[str], *, client: Any, namespaces: Iterable[str]) -> dict[str, Any]:
    """Publish the EMF documents among log messages (one CloudWatch Logs delivery) in `namespaces` only.

    Returns what happened: `documents` published, `datums` sent, `lines` read, and `dropped` (reason ->
    lines) for malformed documents or ones in another namespace. A failing `put_metric_data` raises,
    so the caller (a Lambda invoked asynchronously) is retried, then dead-lettered.
    """
    bridge = EmfBridge(client=client, keep_logs=False, namespaces=frozenset(namespaces))
    lines = 0
    for message in messages:
        # One log event may hold several lines (a container that printed without flushing between them).
        for line in str(message).splitlines():
            lines += 1
            bridge.feed(line)
    datums = bridge.flush()
    return {"lines": lines, "documents": bridge.documents, "datums": datums, "dropped": dict(bridge.malformed),
            "metrics": sorted(bridge.published_names)}
