"""The results JSON contract: required fields, a lossless round trip, and version checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from confusion_report import build
from confusion_report.results import SCHEMA_VERSION, ReportData


@pytest.fixture
def result(colour_net, colour_folder: Path) -> ReportData:
    return build(colour_net, colour_folder, out=None, preset="none", workers=0, progress=False)


def test_contract_fields_are_present(result: ReportData) -> None:
    """Every field DESIGN.md promises is in the JSON, with the documented key names."""
    data = result.to_dict(include_media=False)
    assert next(iter(data)) == "schema_version" and data["schema_version"] == SCHEMA_VERSION
    for key in (
        "tool_version",
        "created",
        "command",
        "model",
        "dataset",
        "metrics",
        "confusion",
        "pairs",
        "clusters",
        "findings",
        "preprocessing",
        "run",
    ):
        assert key in data, key
    assert {"path", "format", "num_outputs", "input_size", "target_layer", "embedding_layer"} <= set(data["model"])
    assert {"root", "n_images", "classes", "skipped"} <= set(data["dataset"])
    assert {"accuracy", "per_class"} <= set(data["metrics"])
    assert {"class", "precision", "recall", "f1", "support"} <= set(data["metrics"]["per_class"][0])
    assert {"classes", "counts"} <= set(data["confusion"])
    assert {"true", "pred", "count", "rate", "examples"} <= set(data["pairs"][0])
    assert data["dataset"]["classes"] == ["blue", "green", "red"]
    assert data["confusion"]["counts"][2] == [0, 3, 12]  # red row: 3 predicted green, 12 right


def test_round_trip_is_lossless(result: ReportData) -> None:
    """from_json(to_json(r)) equals r, thumbnails included."""
    again = ReportData.from_json(result.to_json())
    assert again.to_dict() == ReportData.from_json(again.to_json()).to_dict()
    assert again.to_json() == result.to_json()
    assert again.media == result.media and again.media


def test_newer_schema_is_refused(result: ReportData) -> None:
    """A results file from a newer tool version is not half-read."""
    text = result.to_json().replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 999', 1)
    with pytest.raises(ValueError, match="schema_version 999"):
        ReportData.from_json(text)


def test_paths_are_relative_to_the_data_root(result: ReportData) -> None:
    """Pair examples and gallery paths are relative (portable across machines)."""
    assert all(not path.startswith("/") for pair in result.pairs for path in pair.examples)
    assert result.pairs[0].examples[0].startswith("red/looks_green_")
