"""The local dashboard: what `flywheel up` serves beside the API at `/dashboard`.

Two halves. The page (`index.html`, `dashboard.js`, `dashboard.css` in this folder, shipped as package
data) is plain HTML and vanilla JavaScript that draws SVG charts: nothing is fetched from a CDN, so it
works offline. It reads one JSON document, built here by `Dashboard.data()`:

- `metrics`: every catalogue metric, read back from CloudWatch (moto locally) with `get_metric_data`
  under its `service` roll-up, plus one series per value of each further roll-up the catalogue names
  (requests by route, moderation flags by direction, feedback by kind and rating), discovered with
  `list_metrics`. The statistic follows the unit: sums for counts, average/min/max for the rest.
  Latency percentiles are asked of CloudWatch once; moto cannot compute them (it fails the query), and
  then the p50/p90/p99 shown are computed from the interaction records' `latency_ms`, labelled as such.
  Give it a CloudWatch client without retries: a failing query is not worth five back-offs.
- `interactions`: the newest interaction records the chat API wrote to the lake (Firehose → S3, JSON
  lines under `interactions/events/`), each with its input moderation and output checks, joined with
  the feedback the feedback API stored in DynamoDB for that completion.

Knows the catalogue, the stack's names and boto3; nothing of the HTTP front that serves it.

    dash = Dashboard(names, cloudwatch=..., s3=..., dynamodb=...)
    dash.data(minutes=60)                  # the JSON document
    dash.asset("index.html")               # (bytes, content type) of a static file
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from flywheel.names import StackNames
from flywheel.observability.catalogue import LAYERS, METRICS, NAMESPACE, SERVICE, Metric

ASSETS = {"index.html": "text/html; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8",
          "dashboard.css": "text/css; charset=utf-8"}
PERIOD_S = 60  # one point a minute, CloudWatch's finest standard resolution
PERCENTILES = ("p50", "p90", "p99")
MAX_INTERACTIONS = 20
_MAX_QUERIES = 500  # get_metric_data's limit per call


class DashboardError(Exception):
    """A request the dashboard cannot answer (unknown asset, bad parameter); maps to 404/400."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def statistics_for(m: Metric) -> tuple[str, ...]:
    """What a chart of `m` shows: totals for counts, the spread for measurements."""
    return ("Sum",) if m.unit == "Count" else ("Average", "Minimum", "Maximum")


@dataclass(frozen=True)
class _Series:
    metric: str
    label: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of sorted values (q in [0, 100])."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class Dashboard:
    """Builds the dashboard's JSON from CloudWatch, the lake and DynamoDB of one stack."""

    def __init__(self, names: StackNames, *, cloudwatch: Any, s3: Any, dynamodb: Any,
                 namespace: str = NAMESPACE):
        self.names, self.namespace = names, namespace
        self._cw, self._s3, self._ddb = cloudwatch, s3, dynamodb
        self._cloudwatch_percentiles: bool | None = None  # unknown until asked once

    # --- static files ------------------------------------------------------------------------------
    @staticmethod
    def asset(name: str) -> tuple[bytes, str]:
        if name not in ASSETS:
            raise DashboardError(404, f"no dashboard file {name!r}")
        return resources.files(__package__).joinpath(name).read_bytes(), ASSETS[name]

    # --- the JSON document -------------------------------------------------------------------------
    def data(self, minutes: int = 60, now: float | None = None) -> dict[str, Any]:
        if not 1 <= minutes <= 24 * 60:
            raise DashboardError(400, f"minutes must be in [1, 1440], got {minutes}")
        end = datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC)
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)  # the current minute included
        start = end - timedelta(minutes=minutes)
        interactions = self.interactions()
        metrics = self.metrics(start, end)
        latency = next(m for m in metrics if m["name"] == "Latency")
        latency["percentiles"] = self.latency_percentiles(start, end, interactions)
        return {"stack": self.names.stack, "namespace": self.namespace, "generated_at": time.time(),
                "window": {"start": start.timestamp(), "end": end.timestamp(), "period_s": PERIOD_S},
                "layers": list(LAYERS), "metrics": metrics, "interactions": interactions}

    def _series(self) -> list[_Series]:
        out: list[_Series] = []
        for m in METRICS.values():
            for stat in statistics_for(m):
                out.append(_Series(m.name, stat if len(statistics_for(m)) > 1 else "all",
                                   ((SERVICE, m.layer),), stat))
            for rollup in m.rollups:
                extra = [k for k in rollup if k != SERVICE]
                if not extra:
                    continue
                for dims in self._dimension_values(m, rollup):
                    label = " · ".join(dims[k] for k in extra)
                    out.append(_Series(m.name, label, tuple((k, dims[k]) for k in rollup), statistics_for(m)[0]))
        return out

    def _dimension_values(self, m: Metric, rollup: tuple[str, ...]) -> list[dict[str, str]]:
        """The values a roll-up's keys took, as CloudWatch lists them (only exact matches of the set)."""
        found, token = [], None
        while True:
            kwargs = {"Namespace": self.namespace, "MetricName": m.name,
                      "Dimensions": [{"Name": SERVICE, "Value": m.layer}]}
            if token:
                kwargs["NextToken"] = token
            answer = self._cw.list_metrics(**kwargs)
            for listed in answer.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in listed.get("Dimensions", [])}
                if set(dims) == set(rollup) and dims not in found:
                    found.append(dims)
            token = answer.get("NextToken")
            if not token:
                break
        return sorted(found, key=lambda d: [d[k] for k in rollup])

    def _query(self, queries: list[dict], start: datetime, end: datetime) -> dict[str, tuple[list, list]]:
        got: dict[str, tuple[list, list]] = {}
        for i in range(0, len(queries), _MAX_QUERIES):
            token = None
            while True:
                kwargs = {"MetricDataQueries": queries[i:i + _MAX_QUERIES], "StartTime": start, "EndTime": end,
                          "ScanBy": "TimestampAscending"}
                if token:
                    kwargs["NextToken"] = token
                answer = self._cw.get_metric_data(**kwargs)
                for result in answer["MetricDataResults"]:
                    times, values = got.setdefault(result["Id"], ([], []))
                    times += [t.timestamp() for t in result.get("Timestamps", [])]
                    values += list(result.get("Values", []))
                token = answer.get("NextToken")
                if not token:
                    break
        return got

    def metrics(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        series = self._series()
        queries = [{"Id": f"s{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": s.metric,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in s.dimensions]},
            "Period": PERIOD_S, "Stat": s.stat}} for i, s in enumerate(series)]
        got = self._query(queries, start, end)
        out = {name: {"name": name, "layer": m.layer, "unit": m.unit, "description": m.description,
                      "dimensions": list(m.dimensions), "series": []} for name, m in METRICS.items()}
        for i, s in enumerate(series):
            times, values = got.get(f"s{i}", ([], []))
            points = sorted(zip(times, values))
            out[s.metric]["series"].append({
                "label": s.label, "stat": s.stat, "dimensions": dict(s.dimensions),
                "rollup": [k for k, _ in s.dimensions], "points": [[t, v] for t, v in points]})
        for entry in out.values():
            main = [s for s in entry["series"] if s["rollup"] == [SERVICE]]
            first = main[0]["points"] if main else []
            entry["total"] = sum(v for _, v in first) if entry["unit"] == "Count" else None
            entry["has_data"] = any(s["points"] for s in entry["series"])
        return [out[name] for name in METRICS]

    def latency_percentiles(self, start: datetime, end: datetime,
                            interactions: list[dict[str, Any]]) -> dict[str, Any]:
        """p50/p90/p99 of the API's latency over the window: CloudWatch's, or the records' where it has none."""
        m = METRICS["Latency"]
        queries = [{"Id": stat, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": m.name,
                       "Dimensions": [{"Name": SERVICE, "Value": m.layer}]},
            "Period": max(PERIOD_S, int((end - start).total_seconds())), "Stat": stat}} for stat in PERCENTILES]
        if self._cloudwatch_percentiles is not False:
            try:
                got = self._query(queries, start, end)
                self._cloudwatch_percentiles = True
                values = {stat: got.get(stat, ([], []))[1] for stat in PERCENTILES}
                if all(values.values()):
                    return {"source": "cloudwatch", **{stat: values[stat][-1] for stat in PERCENTILES}}
            except Exception:  # noqa: BLE001 — moto fails percentile statistics outright: compute them instead
                self._cloudwatch_percentiles = self._cloudwatch_percentiles or False
        lows = sorted(float(r["latency_ms"]) for r in interactions
                      if isinstance(r.get("latency_ms"), int | float) and r.get("created", 0) >= start.timestamp())
        if not lows:
            return {"source": "interaction records", "count": 0}
        return {"source": "interaction records", "count": len(lows),
                **{p: _percentile(lows, float(p[1:])) for p in PERCENTILES}}

    # --- interactions ------------------------------------------------------------------------------
    def interactions(self, limit: int = MAX_INTERACTIONS) -> list[dict[str, Any]]:
        """The newest interaction records in the lake, newest first, with their feedback from DynamoDB."""
        from flywheel.feedback.lake import event_objects

        records: list[dict[str, Any]] = []
        # Newest objects first; a torn line is counted by the reader and is the lake's to report.
        for batch in event_objects(self.names, "interactions", newest_first=True, s3=self._s3):
            records += [r for r in batch if r.get("completion_id")]
            if len(records) >= limit:
                break
        records.sort(key=lambda r: r.get("created", 0), reverse=True)
        return [self._row(r) for r in records[:limit]]

    def _row(self, record: dict[str, Any]) -> dict[str, Any]:
        messages = record.get("messages") or []
        prompt = next((m.get("content") for m in reversed(messages)
                       if isinstance(m, dict) and m.get("role") == "user"), "")
        moderation = record.get("input_moderation") or {}
        checks = record.get("output_checks") or []
        return {
            "completion_id": record["completion_id"], "request_id": record.get("request_id"),
            "created": record.get("created"), "model_version": record.get("model_version"),
            "policy_version": record.get("policy_version"), "prompt": prompt,
            "choices": record.get("choices") or [], "finish_reasons": record.get("finish_reasons") or [],
            "latency_ms": record.get("latency_ms"), "usage": record.get("usage") or {},
            "input_moderation": {"flagged": bool(moderation.get("flagged")),
                                 "categories": sorted(k for k, v in (moderation.get("categories") or {}).items() if v),
                                 "top_score": list(max((moderation.get("category_scores") or {}).items(),
                                                       key=lambda kv: kv[1], default=())) or None},
            "input_attack": bool(record.get("input_attack")),
            "output_checks": [{"flagged": bool(c.get("flagged")), "categories": list(c.get("categories") or []),
                               "policy": c.get("policy")} for c in checks if isinstance(c, dict)],
            "feedback": self.feedback(record["completion_id"]),
        }

    def feedback(self, completion_id: str) -> list[dict[str, Any]]:
        """The feedback stored for one completion (the feedback table's partition is the completion id)."""
        items, start_key = [], None
        while True:
            kwargs = {"TableName": self.names.dynamo_table("feedback"),
                      "KeyConditionExpression": "completion_id = :c",
                      "ExpressionAttributeValues": {":c": {"S": completion_id}}}
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            answer = self._ddb.query(**kwargs)
            for item in answer.get("Items", []):
                try:
                    value = json.loads(item["value"]["S"])
                except (KeyError, json.JSONDecodeError):
                    value = None
                index = int(item.get("choice_index", {}).get("N", "-1"))
                items.append({"kind": item.get("kind", {}).get("S"), "value": value,
                              "choice_index": None if index < 0 else index,
                              "created": int(item.get("created", {}).get("N", "0"))})
            start_key = answer.get("LastEvaluatedKey")
            if not start_key:
                break
        return sorted(items, key=lambda f: f["created"])
