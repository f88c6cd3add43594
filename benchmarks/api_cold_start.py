"""Cold start of the API handlers against bare boto3, each in fresh Python processes.

Measures, in the same run and interleaved (so machine load hits all alike), the wall time of a fresh
`python -c ...` that:

    baseline       imports boto3
    baseline+      imports boto3 and builds one client (what any AWS-calling Lambda does first)
    moderation     imports functions/moderation/handler.py (its init phase: Powertools, settings, app)
    feedback       imports functions/feedback/handler.py
    moderation/1st ... and answers one request (POST /v1/moderations), the rest of a cold start
    feedback/1st   ... and answers one malformed request (no AWS call: the 400 path), which still
                   builds the Tracer and the idempotency config

and prints the median of each and the ratios handler/baseline. Goal (issue 5): the handlers' cold import
within 1.5x of importing bare boto3. Tracing is on as in Lambda (the X-Ray SDK is imported, sending
nothing without a daemon).

    python benchmarks/api_cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD = ("import importlib.util as u; s = u.spec_from_file_location('handler', {path!r}); "
        "m = u.module_from_spec(s); s.loader.exec_module(m)")
# One API Gateway REST proxy event, built inline so the benchmark imports nothing the handler does not.
EVENT = ("e = {{'resource': {route!r}, 'path': {route!r}, 'httpMethod': 'POST', 'headers': {{}}, "
         "'requestContext': {{'requestId': 'r', 'stage': 'v1'}}, 'body': {body!r}, 'isBase64Encoded': False}}; "
         "C = type('C', (), {{'function_name': 'bench', 'memory_limit_in_mb': 512, 'aws_request_id': 'r', "
         "'invoked_function_arn': 'arn:aws:lambda:us-east-1:1:function:bench', "
         "'get_remaining_time_in_millis': lambda self: 30000}}); "
         "a = m.lambda_handler(e, C()); assert a['statusCode'] == {status}, a")


def handler(name: str) -> str:
    return LOAD.format(path=str(ROOT / "functions" / name / "handler.py"))


CASES = {
    "baseline": "import boto3",
    "baseline+": "import boto3; boto3.client('dynamodb')",
    "moderation": handler("moderation"),
    "feedback": handler("feedback"),
    "moderation/1st": handler("moderation") + "; " + EVENT.format(
        route="/v1/moderations", body='{"input": "hello there"}', status=200),
    "feedback/1st": handler("feedback") + "; " + EVENT.format(
        route="/v1/feedback", body='{"completion_id": "x"}', status=400),
}


def once(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "FLYWHEEL_STACK": "bench", "POWERTOOLS_METRICS_NAMESPACE": "Flywheel",
           "POWERTOOLS_SERVICE_NAME": "api", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_LAMBDA_FUNCTION_NAME": "bench",
           # No X-Ray daemon here: the SDK would log that it cannot send; the work is the same.
           "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    for code in CASES.values():  # warm the OS file cache and .pyc files once
        once(code, env)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            times[name].append(once(code, env))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'case':<16}{'median s':>10}{'min s':>8}{'/ boto3':>9}{'/ boto3+client':>16}")
    for name in CASES:
        print(f"{name:<16}{median[name]:>10.3f}{min(times[name]):>8.3f}{median[name] / median['baseline']:>9.2f}"
              f"{median[name] / median['baseline+']:>16.2f}")
    for name in ("moderation", "feedback"):
        ratio = median[name] / median["baseline"]
        print(f"cold import {name} / bare boto3 import = {ratio:.2f}x (goal <= 1.5x: "
              f"{'met' if ratio <= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
