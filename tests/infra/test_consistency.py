"""Consistency between infra and the rest of the repository: handler paths exist, the dashboard and the
alarms read only catalogue metrics under dimension sets they are published with, the functions'
environments satisfy their settings models, and the pipeline definition is the same on every build.
Run: .venv/bin/python -m pytest -q tests/infra/test_consistency.py"""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path

import pytest

from flywheel.observability import catalogue as cat

REPO = Path(__file__).resolve().parents[2]
SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\} MetricName=\"(?P<name>[^\"]+)\"")


def _defines(path: Path, function: str) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body)


@pytest.mark.parametrize("function", ["chat", "moderation", "feedback", "models", "authorizer"])
def test_every_handler_path_exists(full_run, function):
    fn = full_run.one("aws:lambda/function:Function", f"api-{function}")
    if not fn.name.endswith(function):
        fn = next(f for f in full_run.of_type("aws:lambda/function:Function") if f.name == f"api-{function}")
    module, _, attribute = fn.inputs["handler"].rpartition(".")
    assets = fn.inputs["code"].assets
    folder = REPO / "infra" / "authorizer" if function == "authorizer" else REPO / "functions" / function
    if not folder.is_dir():
        pytest.skip(f"{folder.relative_to(REPO)} does not exist yet (another layer writes it)")
    source = Path(assets[f"{module.replace('.', '/')}.py"].path)
    assert source.resolve() == (folder / f"{module}.py").resolve()
    assert _defines(source, attribute), f"{source} has no top-level {attribute}()"
    if function != "authorizer":
        assert "flywheel/names.py" in assets  # the library travels with each function


def _check(namespace: str, name: str, dims: set[str], where: str) -> cat.Metric:
    m = cat.lookup(namespace, name)  # raises if not in the catalogue
    assert dims in [set(s) for s in m.dimension_sets], f"{where}: {name} is not published under {sorted(dims)}"
    return m


def _dashboard_metrics(body: dict) -> list[tuple[str, str, set[str]]]:
    found = []
    for widget in body["widgets"]:
        for line in widget.get("properties", {}).get("metrics", []):
            head = line[0]
            if isinstance(head, dict):
                match = SEARCH.search(head.get("expression", ""))
                if match:
                    namespace, *dims = [p.strip('"') for p in match["schema"].split(",")]
                    found.append((namespace, match["name"], set(dims)))
                continue
            namespace, name, rest = line[0], line[1], [x for x in line[2:] if not isinstance(x, dict)]
            found.append((namespace, name, set(rest[0::2])))
    return found


def test_dashboard_reads_only_catalogue_metrics(full_run):
    body = json.loads(full_run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    read = _dashboard_metrics(body)
    assert len(read) >= 30
    for namespace, name, dims in read:
        _check(namespace, name, dims, "dashboard")
    # every layer that emits is on the dashboard
    names_read = {name for _, name, _ in read}
    for layer in cat.LAYERS:
        assert names_read & {m.name for m in cat.for_layer(layer)}, f"nothing from the {layer} layer"


def test_alarms_read_only_catalogue_metrics(full_run):
    alarms = full_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(alarms) >= 9
    for alarm in alarms:
        i = alarm.inputs
        queries = [q["metric"] for q in i.get("metricQueries", []) if q.get("metric")]
        if i.get("metricName"):
            queries.append({"namespace": i["namespace"], "metricName": i["metricName"],
                            "dimensions": i.get("dimensions", {})})
        assert queries, alarm.name
        for q in queries:
            m = _check(q["namespace"], q["metricName"], set(q.get("dimensions", {})), alarm.name)
            if m.emitted_by == "flywheel":
                assert q["dimensions"][cat.SERVICE] == m.layer, alarm.name


def test_saved_queries_name_catalogue_metrics(full_run):
    queries = full_run.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")
    assert len(queries) == 4
    for q in queries:
        for name in re.findall(r"ispresent\((\w+)\)", q.inputs["queryString"]):
            cat.metric(name)
        assert q.inputs["logGroupNames"]


@pytest.mark.parametrize("function,settings", [("chat", "ChatSettings"), ("feedback", "FeedbackSettings"),
                                               ("models", "ModelsSettings"),
                                               ("moderation", "ModerationSettings")])
def test_function_environment_satisfies_its_settings(default_run, function, settings):
    """The environment infra gives each function is one its settings model accepts, and the names it
    resolves to are resources this stack creates."""
    from flywheel.api import settings as api_settings

    fn = next(f for f in default_run.of_type("aws:lambda/function:Function") if f.name == f"api-{function}")
    parsed = getattr(api_settings, settings).from_env(fn.inputs["environment"]["variables"])
    tables = {t.inputs["name"] for t in default_run.of_type("aws:dynamodb/table:Table")}
    streams = {s.inputs["name"] for s in default_run.of_type(
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")}
    for field, value in parsed.model_dump().items():
        if field.endswith("_table"):
            assert value in tables, (function, field, value)
        if field.endswith("_stream"):
            assert value in streams, (function, field, value)
    if function == "chat":
        assert parsed.endpoint_name == default_run.exports["endpointName"]
    assert parsed.metrics_namespace == cat.NAMESPACE


def test_pipeline_definition_is_identical_across_builds(default_run, tmp_path):
    """Two fresh builds (different staging folders, a second apart) give the same definition and the same
    content-addressed code keys, and rendering it reproduces what the program handed to Pulumi."""
    from flywheel.names import StackNames
    from infra.components.training import pipeline_settings
    from infra.config import TrainingConfig
    from training_jobs import pipeline as sm_pipeline

    settings = pipeline_settings(StackNames(stack="dev"), "us-east-1", TrainingConfig())
    first = sm_pipeline.build(settings, tmp_path / "a")
    time.sleep(1.1)  # the SDK names jobs and uploads by the second
    second = sm_pipeline.build(settings, tmp_path / "b")
    assert first.definition == second.definition
    assert first.uploads.keys() == second.uploads.keys()
    for key in first.uploads:
        assert Path(first.uploads[key]).read_bytes() == Path(second.uploads[key]).read_bytes()
    recorded = default_run.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"]
    account, region = "123456789012", "us-east-1"
    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    rendered = first.render({
        sm_pipeline.ROLE_TOKEN: f"arn:aws:iam::{account}:role/flywheel-dev-sagemaker-execution",
        sm_pipeline.KMS_TOKEN: f"arn:aws:kms:{region}:{account}:key/key-lake-key",
        sm_pipeline.TRAINING_IMAGE_TOKEN: f"{registry}/flywheel-dev-training:v1",
        sm_pipeline.INFERENCE_IMAGE_TOKEN: f"{registry}/flywheel-dev-inference:v1"})
    assert rendered == recorded
    # and every code object the definition points at is uploaded by the program
    keys = {o.inputs["key"] for o in default_run.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    assert keys == set(first.uploads)
    for uri in re.findall(r"s3://flywheel-dev-lake/(code/[0-9a-f]+/[^\"]*)", recorded):
        assert any(k == uri or k.startswith(uri) for k in keys), uri


def test_pipeline_changes_when_an_entry_point_changes(tmp_path):
    from training_jobs import pipeline as sm_pipeline

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('a')\n")
    before = sm_pipeline.content_hash(code)
    (code / "train.py").write_text("print('b')\n")
    assert sm_pipeline.content_hash(code) != before
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert sm_pipeline.content_hash(code) == sm_pipeline.content_hash(code)


@pytest.mark.parametrize("entry", ["prepare_data.py", "train.py", "evaluate.py"])
def test_pipeline_entry_points_exist(default_run, entry):
    recorded = default_run.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"]
    assert entry in recorded or entry == "train.py"
    if not (REPO / "training_jobs" / entry).exists():
        pytest.skip(f"training_jobs/{entry} does not exist yet (another layer writes it)")
    keys = {o.inputs["key"].rsplit("/", 1)[-1] for o in default_run.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    assert entry in keys


def test_several_cleaning_instances_share_an_s3_work_dir(tmp_path):
    import json

    from training_jobs import pipeline as sm_pipeline

    settings = sm_pipeline.PipelineSettings(name="flywheel-test-ct", bucket="flywheel-test-lake",
                                            region="us-east-1", model_package_group="flywheel-test-models",
                                            prepare_instance_count=3)
    definition = json.loads(sm_pipeline.build(settings, tmp_path).definition)
    prepare = next(s for s in definition["Steps"] if s["Type"] == "Processing" and "--input" in
                   s["Arguments"]["AppSpecification"]["ContainerArguments"])
    assert prepare["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    args = prepare["Arguments"]["AppSpecification"]["ContainerArguments"]
    work = args[args.index("--work-dir") + 1]
    assert "s3://flywheel-test-lake/shards/work" in json.dumps(work)
    raw = prepare["Arguments"]["ProcessingInputs"][0]["S3Input"]
    assert raw.get("S3DataDistributionType", "FullyReplicated") == "FullyReplicated"
