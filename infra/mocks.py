"""Run the Pulumi program offline under Pulumi's mocks, and record what it would create.

`run_program(config)` executes `infra/__main__.py` exactly as `pulumi up` would, except that every
resource registration goes to `FlywheelMocks`, which records the inputs and fills the outputs AWS would
compute (ARNs, ids, URLs) from the physical names, and every invoke (caller identity, region, partition,
availability zones) gets a fixed answer; an invoke it does not know raises, so a new data source fails
loudly instead of returning nothing. Used by `infra/plan.py` (`make plan`) and the tests.

No AWS account, no Pulumi CLI, no network.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

MAIN = Path(__file__).resolve().parent / "__main__.py"
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


@dataclass
class Recorded:
    """One resource the program registered: its type, logical name, inputs, URN and mock outputs."""

    typ: str
    name: str
    inputs: dict
    outputs: dict
    urn: str = ""

    @property
    def layer(self) -> str:
        """The layer a resource belongs to: its outermost Flywheel component (`flywheel:<layer>:<Name>`)."""
        chain = self.urn.split("::")[2].split("$") if self.urn.count("::") >= 3 else []
        for typ in chain:
            if typ.startswith("flywheel:"):
                return typ.split(":")[1]
        return "stack"


def _service(typ: str) -> str:
    # "aws:s3/bucket:Bucket" -> "s3"
    return typ.split(":")[1].split("/")[0] if typ.startswith("aws:") else "mock"


class FlywheelMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str = DEFAULT_REGION):
        self.region = region
        self.recorded: list[Recorded] = []

    def _arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT_ID if account else ''}:{resource}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        out = dict(inputs)
        physical = inputs.get("name") or name
        resource_id = f"{name}-id"
        service = _service(typ)
        if typ == "aws:s3/bucket:Bucket":
            physical = inputs.get("bucket") or name
            out.update(bucket=physical, arn=f"arn:aws:s3:::{physical}", id=physical)
            resource_id = physical
        elif typ == "aws:kms/key:Key":
            out.update(keyId=f"key-{name}", arn=self._arn("kms", f"key/key-{name}"))
        elif typ == "aws:iam/role:Role":
            out.update(arn=self._arn("iam", f"role/{physical}", region=False), name=physical)
        elif typ == "aws:lambda/function:Function":
            arn = self._arn("lambda", f"function:{physical}")
            out.update(arn=arn, name=physical, invokeArn=f"arn:aws:apigateway:{self.region}:lambda:path/2015-03-31/"
                                                          f"functions/{arn}/invocations")
        elif typ == "aws:apigateway/restApi:RestApi":
            out.update(rootResourceId=f"{name}-root", executionArn=self._arn("execute-api", f"{name}-id"),
                       arn=f"arn:aws:apigateway:{self.region}::/restapis/{name}-id")
        elif typ == "aws:apigateway/stage:Stage":
            out.update(invokeUrl=f"https://{name}-api.execute-api.{self.region}.amazonaws.com/{inputs['stageName']}")
        elif typ == "aws:apigateway/apiKey:ApiKey":
            out.update(value=f"mock-api-key-{name}-0123456789")
        elif typ == "aws:ecr/repository:Repository":
            out.update(repositoryUrl=f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{physical}",
                       arn=self._arn("ecr", f"repository/{physical}"))
        elif typ == "aws:dynamodb/table:Table":
            out.update(arn=self._arn("dynamodb", f"table/{physical}"))
        elif typ == "aws:sqs/queue:Queue":
            out.update(arn=self._arn("sqs", physical), url=f"https://sqs.{self.region}.amazonaws.com/{physical}")
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            physical = inputs.get("name") or f"/mock/{name}"
            out.update(name=physical, arn=self._arn("logs", f"log-group:{physical}"))
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            out.update(arn=self._arn("cloudwatch", f"alarm:{physical}"))
        elif typ == "aws:sagemaker/pipeline:Pipeline":
            out.update(arn=self._arn("sagemaker", f"pipeline/{inputs['pipelineName'].lower()}"))
        elif typ == "aws:sagemaker/modelPackageGroup:ModelPackageGroup":
            out.update(arn=self._arn("sagemaker", f"model-package-group/{inputs['modelPackageGroupName']}"))
        elif typ == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
            out.update(arn=self._arn("firehose", f"deliverystream/{physical}"))
        elif typ == "aws:sagemaker/model:Model":
            out.update(name=f"{name}-model", arn=self._arn("sagemaker", f"model/{name}-model"))
        elif typ == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
            out.update(name=f"{name}-config", arn=self._arn("sagemaker", f"endpoint-config/{name}-config"))
        elif typ.startswith("aws:"):
            out.setdefault("arn", self._arn(service, f"{typ.rsplit(':', 1)[-1].lower()}/{physical}"))
            if "name" not in out and "name" in _NAMED.get(typ, ()):
                out["name"] = physical
        self.recorded.append(Recorded(typ, name, inputs, out))
        return [resource_id, out]

    def call(self, args: pulumi.runtime.MockCallArgs):
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock", "userId": "MOCK",
                    "id": ACCOUNT_ID}
        if token == "aws:index/getRegion:getRegion":
            return {"region": self.region, "name": self.region, "id": self.region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
                    "id": "aws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(3)], "id": self.region}
        raise NotImplementedError(f"the mocks do not answer invoke {token}: add it to FlywheelMocks.call")


# Types whose `name` output AWS fills from the logical name when not given.
_NAMED = {"aws:sqs/queue:Queue": ("name",), "aws:sns/topic:Topic": ("name",)}


@dataclass
class ProgramRun:
    resources: list[Recorded]
    exports: dict = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_contains: str = "") -> Recorded:
        found = [r for r in self.of_type(typ) if name_contains in r.name]
        if len(found) != 1:
            raise AssertionError(f"expected one {typ} named *{name_contains}*, found {[r.name for r in found]}")
        return found[0]

    def by_layer(self) -> dict[str, list[Recorded]]:
        layers: dict[str, list[Recorded]] = {}
        for r in self.resources:
            layers.setdefault(r.layer, []).append(r)
        return layers


def _config_values(config: dict) -> dict[str, str]:
    import json

    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def run(program, config: dict | None = None, *, project: str = "flywheel", stack: str = "dev") -> ProgramRun:
    """Run `program()` (any function creating resources) under the mocks with this stack config."""
    config = {"aws:region": DEFAULT_REGION, **(config or {})}
    mocks = FlywheelMocks(region=config["aws:region"])
    monitor = MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(_config_values(config))
    root = pulumi.runtime.get_root_resource()
    before = dict(getattr(root, "outputs", {}) or {})
    _sync_await(run_pulumi_func(program))
    urns = {(reg.urn.rsplit("::", 1)[-1], reg.urn.split("::")[2].split("$")[-1]): reg.urn
            for reg in monitor.resources.values()}
    for rec in mocks.recorded:
        rec.urn = urns.get((rec.name, rec.typ), "")
    exports = {}
    for key, value in (getattr(root, "outputs", {}) or {}).items():
        if before.get(key) is value:
            continue
        exports[key] = _sync_await(pulumi.Output.from_input(value).future()) \
            if isinstance(value, pulumi.Output) else value
    return ProgramRun(resources=mocks.recorded, exports=exports)


def run_program(config: dict | None = None, *, stack: str = "dev") -> ProgramRun:
    """Run `infra/__main__.py` as Pulumi would, offline."""
    return run(lambda: runpy.run_path(str(MAIN), run_name="__main__"), config, stack=stack)
