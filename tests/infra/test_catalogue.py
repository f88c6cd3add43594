"""The metric catalogue: every line it renders is valid embedded metric format, and it refuses
anything off-catalogue. Run: .venv/bin/python -m pytest -q tests/infra/test_catalogue.py"""

from __future__ import annotations

import json
import re

import pytest

from flywheel.names import StackNames
from flywheel.observability import catalogue as cat


def _check_emf(doc: dict) -> None:
    """The EMF specification's rules, checked directly (not via the renderer's own code)."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int)
    for directive in aws["CloudWatchMetrics"]:
        assert directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for key in dimension_set:
                assert isinstance(doc[key], str) and doc[key]
        for definition in directive["Metrics"]:
            assert definition["Unit"] in cat.UNITS
            value = doc[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            assert all(isinstance(v, float) for v in values)


def _example_dimensions(m: cat.Metric) -> dict[str, str]:
    return {key: f"{key.lower()}-x" for key in m.dimensions}


@pytest.mark.parametrize("name", sorted(cat.METRICS))
def test_every_metric_renders_valid_emf(name):
    m = cat.metric(name)
    line = cat.emf_line(name, 3, _example_dimensions(m), properties={"request_id": "r-1"}, timestamp_ms=5)
    doc = json.loads(line)
    _check_emf(doc)
    assert "\n" not in line
    assert doc[name] == 3.0 and doc["service"] == m.layer and doc["request_id"] == "r-1"
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == StackNames().metrics_namespace
    assert directive["Dimensions"][0] == ["service", *m.dimensions]
    assert ["service"] in directive["Dimensions"]


def test_model_version_is_a_dimension_where_it_applies():
    per_model = {"Requests", "Latency", "TokensIn", "TokensOut", "Feedback", "TimeToFirstToken",
                 "TimePerOutputToken", "TokensPerSecond", "train_loss", "val_loss", "GateVerdict",
                 "CanaryShare", "Rollbacks", "DriftScore", "ModerationFlags", "Refusals"}
    assert {n for n, m in cat.METRICS.items() if "ModelVersion" in m.dimensions} >= per_model


def test_off_catalogue_names_and_dimensions_are_refused():
    with pytest.raises(cat.UnknownMetricError, match="not in the catalogue"):
        cat.emf_line("Latencyy", 1.0, {"Route": "chat", "ModelVersion": "v1"})
    with pytest.raises(cat.UnknownMetricError):
        cat.emf_line("Invocation5XXErrors", 1.0, {})  # AWS's, not ours
    with pytest.raises(cat.CatalogueError, match="missing"):
        cat.emf_line("Latency", 1.0, {"Route": "chat"})
    with pytest.raises(cat.CatalogueError, match="unexpected"):
        cat.emf_line("QueueDepth", 1.0, {"Route": "chat"})
    with pytest.raises(cat.CatalogueError, match="finite"):
        cat.emf_line("QueueDepth", float("nan"))
    with pytest.raises(cat.CatalogueError, match="shadow"):
        cat.emf_line("QueueDepth", 1, properties={"service": "x"})
    with pytest.raises(cat.CatalogueError, match="non-empty"):
        cat.emf_line("CacheHits", 1, {"Route": ""})


def test_a_batch_of_values_is_one_line():
    doc = json.loads(cat.emf_line("BatchSize", [1, 2, 4]))
    _check_emf(doc)
    assert doc["BatchSize"] == [1.0, 2.0, 4.0]


def test_sagemaker_metric_definitions_scrape_the_training_log():
    definitions = {d["Name"]: d["Regex"] for d in cat.sagemaker_metric_definitions()}
    assert definitions == {"train_loss": "train_loss=([0-9.eE+-]+)", "val_loss": "val_loss=([0-9.eE+-]+)",
                           "tokens_per_sec": "tokens_per_sec=([0-9.eE+-]+)"}
    log_line = "step=120 train_loss=2.5e-01 val_loss=3.125 tokens_per_sec=5412.7"
    found = {name: float(re.search(regex, log_line).group(1)) for name, regex in definitions.items()}
    assert found == {"train_loss": 0.25, "val_loss": 3.125, "tokens_per_sec": 5412.7}


def test_dimension_sets_for_powertools():
    sets = cat.emf_dimension_sets("Feedback", {"Kind": "thumbs", "Rating": "down", "ModelVersion": "v2"})
    assert sets[0] == {"service": "api", "Kind": "thumbs", "Rating": "down", "ModelVersion": "v2"}
    assert {"service": "api", "Kind": "thumbs", "Rating": "down"} in sets and {"service": "api"} in sets


def test_aws_metrics_are_catalogued_for_reading():
    m = cat.lookup("AWS/SageMaker", "Invocation5XXErrors")
    assert m.emitted_by == "aws" and m.dimensions == ("EndpointName", "VariantName")
    with pytest.raises(cat.UnknownMetricError):
        cat.lookup("AWS/SageMaker", "Nope")
    scraped = cat.lookup(cat.SAGEMAKER_TRAINING_NAMESPACE, "train_loss")
    assert scraped.emitted_by == "aws" and cat.metric("train_loss").emitted_by == "flywheel"


def test_log_properties_name_catalogued_metrics():
    for prop, metrics in cat.LOG_PROPERTIES.items():
        for name in metrics:
            m = cat.metric(name)
            assert prop not in m.dimensions
            cat.emf_document(name, 1, {k: "x" for k in m.dimensions}, properties={prop: "v"})
