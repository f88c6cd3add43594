"""The local AWS stack: moto server on loopback, with the resources the Pulumi program creates in AWS.

`LocalStack.start()` runs moto server in a thread on 127.0.0.1 (a free port), points every AWS client
of this process at it through the standard variables (`AWS_ENDPOINT_URL`, fake credentials, region,
`FLYWHEEL_STACK`/`FLYWHEEL_PROJECT`), and creates, with names from `flywheel.names.StackNames` and the
layout from `flywheel.data.schemas`:

    S3        the lake bucket (zones are prefixes: raw/ curated/ interactions/ ... models/)
    Glue      the database and the tables curated_documents, interactions, feedback, preferences
    DynamoDB  every table of names.DYNAMO_TABLES, on-demand; TTL on the attributes in TTL_ATTRIBUTES
    SageMaker the model package group (the model registry)
    Firehose  one delivery stream each for interactions and feedback, into <zone>/events/

Creating is idempotent: `ensure_resources` against a stack that already has them changes nothing, so a
second `start()` on a shared server, or a rerun of the demo, is safe. `stop()` shuts the server down and
restores the environment variables it changed.

    from flywheel.local.stack import LocalStack
    with LocalStack.start(StackNames(stack="demo")) as stack:
        stack.endpoint_url            # 'http://127.0.0.1:54321'
        stack.names.bucket            # 'flywheel-demo-lake'
        stack.client("s3").list_objects_v2(Bucket=stack.names.bucket)
        stack.env()                   # the variables a child process needs to reach the same stack

    python -m flywheel.local.stack --stack demo     # run one in the foreground until Ctrl-C

What it does not do: emulate compute. moto reports training jobs `Completed` and endpoints `InService`
without running anything (NOTES.md), so the local demo runs those parts itself through the same entry
points; this module only provides the storage, catalogue and registry they talk to.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Self

from flywheel.data.schemas import FIREHOSE_ZONES, events_prefix, glue_table_input
from flywheel.names import DYNAMO_TABLES, TABLES, StackNames

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}
ACCOUNT_ID = "123456789012"  # moto's default account
# DynamoDB tables whose items expire, and the attribute (epoch seconds) that says when.
# idempotency uses Powertools' default attribute name ("expiration").
TTL_ATTRIBUTES = {"response_cache": "expires_at", "interactions": "expires_at", "idempotency": "expiration"}
# Variables `start()` sets; the SageMaker SDK needs the two last ones against moto (NOTES.md).
_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", *FAKE_CREDENTIALS, "FLYWHEEL_PROJECT",
             "FLYWHEEL_STACK", "SAGEMAKER_VALIDATE_ROLE")


class LocalStackError(RuntimeError):
    """The local stack could not start or could not create one of its resources."""


def _client(service: str, endpoint_url: str, region: str):
    import boto3

    return boto3.session.Session(region_name=region, **{k.lower(): v for k, v in FAKE_CREDENTIALS.items()}
                                 ).client(service, endpoint_url=endpoint_url)


def stack_env(names: StackNames, endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """The environment variables that point a process (boto3, awswrangler, Powertools) at the stack."""
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
            **FAKE_CREDENTIALS, "FLYWHEEL_PROJECT": names.project, "FLYWHEEL_STACK": names.stack,
            "SAGEMAKER_VALIDATE_ROLE": "false"}


def ensure_resources(names: StackNames, endpoint_url: str, region: str = REGION) -> dict[str, list[str]]:
    """Create whatever of the stack's resources is missing; returns what was created, by service."""
    created: dict[str, list[str]] = {"s3": [], "glue": [], "dynamodb": [], "sagemaker": [], "firehose": []}
    try:
        _ensure_bucket(names, _client("s3", endpoint_url, region), created)
        _ensure_glue(names, _client("glue", endpoint_url, region), created)
        _ensure_dynamodb(names, _client("dynamodb", endpoint_url, region), created)
        _ensure_registry(names, _client("sagemaker", endpoint_url, region), created)
        _ensure_firehose(names, _client("firehose", endpoint_url, region), created)
    except Exception as exc:  # botocore raises many types; one typed error names the stack
        if isinstance(exc, LocalStackError):
            raise
        raise LocalStackError(f"creating the resources of stack {names.prefix} at {endpoint_url} failed: "
                              f"{type(exc).__name__}: {exc}") from exc
    return created


def _ensure_bucket(names: StackNames, s3, created) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if names.bucket not in existing:
        s3.create_bucket(Bucket=names.bucket)  # us-east-1 takes no LocationConstraint
        created["s3"].append(names.bucket)
    s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})


def _ensure_glue(names: StackNames, glue, created) -> None:
    try:
        glue.get_database(Name=names.glue_database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": names.glue_database,
                                            "Description": f"Flywheel lake of stack {names.prefix}"})
        created["glue"].append(names.glue_database)
    for zone in TABLES:
        try:
            glue.get_table(DatabaseName=names.glue_database, Name=names.table(zone))
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=names.glue_database, TableInput=glue_table_input(names, zone))
            created["glue"].append(f"{names.glue_database}.{names.table(zone)}")


def _ensure_dynamodb(names: StackNames, dynamodb, created) -> None:
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for role, (hash_key, range_key) in DYNAMO_TABLES.items():
        table = names.dynamo_table(role)
        if table not in existing:
            keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
            dynamodb.create_table(
                TableName=table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                KeySchema=[{"AttributeName": k, "KeyType": kind} for k, kind in keys],
            )
            created["dynamodb"].append(table)
        if role in TTL_ATTRIBUTES:
            ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": TTL_ATTRIBUTES[role]})


def _ensure_registry(names: StackNames, sagemaker, created) -> None:
    groups = sagemaker.list_model_package_groups(NameContains=names.model_package_group)
    if not any(g["ModelPackageGroupName"] == names.model_package_group
               for g in groups.get("ModelPackageGroupSummaryList", [])):
        sagemaker.create_model_package_group(
            ModelPackageGroupName=names.model_package_group,
            ModelPackageGroupDescription=f"Flywheel models of stack {names.prefix}")
        created["sagemaker"].append(names.model_package_group)


def _ensure_firehose(names: StackNames, firehose, created) -> None:
    existing = set(firehose.list_delivery_streams(Limit=100).get("DeliveryStreamNames", []))
    streams = {"interactions": names.firehose_interactions, "feedback": names.firehose_feedback}
    for zone in FIREHOSE_ZONES:
        stream = streams[zone]
        if stream in existing:
            continue
        firehose.create_delivery_stream(
            DeliveryStreamName=stream, DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                # moto checks neither the role nor its trust; AWS gets the role Pulumi creates.
                "RoleARN": f"arn:aws:iam::{ACCOUNT_ID}:role/{names.prefix}-firehose",
                "BucketARN": f"arn:aws:s3:::{names.bucket}",
                "Prefix": events_prefix(names, zone),
                "ErrorOutputPrefix": f"{events_prefix(names, zone)}errors/",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
                "CompressionFormat": "UNCOMPRESSED",
            })
        created["firehose"].append(stream)


@dataclass
class LocalStack:
    """A running moto server with one stack's resources; stop it with `stop()` or a `with` block."""

    names: StackNames
    endpoint_url: str
    region: str = REGION
    created: dict[str, list[str]] = field(default_factory=dict)
    _server: object | None = field(default=None, repr=False)
    _saved_env: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def start(cls, names: StackNames | None = None, *, region: str = REGION, port: int = 0,
              set_env: bool = True) -> LocalStack:
        """Start moto server on 127.0.0.1:`port` (0: a free one) and create the stack's resources.

        With `set_env` (the default) this process's AWS variables point at the server until `stop()`;
        clients built before `start()` keep their old endpoint, so build clients after it.
        """
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request at INFO to stderr; the demo's and the tests' output is not for that.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        names = names or StackNames()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        try:
            server.start()
        except OSError as exc:
            raise LocalStackError(f"moto server could not listen on 127.0.0.1:{port}: {exc}") from exc
        host, bound = server.get_host_and_port()
        stack = cls(names=names, endpoint_url=f"http://{host}:{bound}", region=region, _server=server)
        if set_env:
            stack._saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
            os.environ.update(stack.env())
        try:
            stack.created = ensure_resources(names, stack.endpoint_url, region)
        except BaseException:
            stack.stop()
            raise
        return stack

    def env(self) -> dict[str, str]:
        return stack_env(self.names, self.endpoint_url, self.region)

    def client(self, service: str):
        """A boto3 client for `service` pointed at this stack (whatever the process environment says)."""
        return _client(service, self.endpoint_url, self.region)

    def ensure_resources(self) -> dict[str, list[str]]:
        return ensure_resources(self.names, self.endpoint_url, self.region)

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        """Shut the server down and put back the environment variables `start()` replaced."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flywheel.local.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="flywheel")
    parser.add_argument("--stack", default="local")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    with LocalStack.start(StackNames(args.project, args.stack), port=args.port) as stack:
        for key, value in stack.env().items():
            print(f"export {key}={value}")
        print(f"# stack {stack.names.prefix} at {stack.endpoint_url}; Ctrl-C stops it", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
