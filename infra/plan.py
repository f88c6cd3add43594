"""`make plan`: an offline preview — run the Pulumi program under mocks and print what it would create,
grouped by layer.

No AWS account, Pulumi CLI or network is needed: `infra.mocks` answers for AWS. Configuration is the
same as a stack's (`--set` takes `key=value`, the value JSON when it parses as JSON):

    .venv/bin/python -m infra.plan
    .venv/bin/python -m infra.plan --stack prod --region eu-west-1 \
        --set 'flywheel:serving={"deployEndpoint": true}' --set 'flywheel:network={"enabled": true}'

It does not know what AWS would change in an existing stack (that is `pulumi preview`); it lists
everything the program declares.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LAYER_ORDER = ("datalake", "registry", "network", "training", "serving", "api", "observability", "stack")


def _physical(rec) -> str:
    for key in ("name", "key", "bucket", "pipelineName", "modelPackageGroupName", "dashboardName", "stageName"):
        value = rec.inputs.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def render(run, stack: str, region: str) -> str:
    layers = run.by_layer()
    total = sum(1 for r in run.resources if not r.typ.startswith("flywheel:"))
    header = (f"Flywheel plan (offline, Pulumi mocks): stack {stack!r}, region {region}: "
              f"{total} resources in {len(layers)} layers")
    lines = [header, ""]
    for layer in sorted(layers, key=lambda k: LAYER_ORDER.index(k) if k in LAYER_ORDER else 99):
        resources = [r for r in layers[layer] if not r.typ.startswith("flywheel:")]
        counts = Counter(r.typ for r in resources)
        lines.append(f"{layer} ({len(resources)})")
        for r in sorted(resources, key=lambda r: (r.typ, r.name)):
            physical = _physical(r)
            lines.append(f"  {r.typ:<62} {r.name:<40} {physical}".rstrip())
        summary = ", ".join(f"{n} {t.rsplit(':', 1)[-1]}" for t, n in counts.most_common())
        lines += [f"  = {summary}", ""]
    lines.append("Outputs")
    for key, value in sorted(run.exports.items()):
        lines.append(f"  {key:<24} {'[secret]' if key == 'apiKey' else value}")
    return "\n".join(lines)


def _parse_sets(pairs: list[str]) -> dict:
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or ":" not in key:
            raise SystemExit(f"--set wants namespace:key=value, got {pair!r}")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Offline preview of the Flywheel Pulumi program (mocks).")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="stack configuration, e.g. 'flywheel:serving={\"deployEndpoint\": true}'")
    parser.add_argument("--json", action="store_true", help="print the resources as JSON instead")
    args = parser.parse_args(argv)

    # The SageMaker SDK logs its pipeline compilation at INFO/WARNING; a preview wants only the plan.
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="sagemaker")
    from infra.mocks import run_program

    run = run_program({"aws:region": args.region, **_parse_sets(args.set)}, stack=args.stack)
    if args.json:
        print(json.dumps([{"layer": r.layer, "type": r.typ, "name": r.name, "physical": _physical(r)}
                          for r in run.resources], indent=1))
    else:
        print(render(run, args.stack, args.region))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
