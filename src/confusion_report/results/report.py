"""``ReportData``: everything one report shows, frozen, and the JSON contract.

Analyses produce the parts (see the sibling modules); renderers only read them. ``ReportData.to_json``
writes the contract described in docs/results-json.md and ``ReportData.from_json`` reads it back, so a
report can be re-rendered without the model or torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..serde import from_jsonable, to_jsonable
from .class_groups import ClassGroups
from .core import (
    Cluster,
    Confusion,
    DatasetInfo,
    Gallery,
    ImagePredictions,
    Metrics,
    ModelInfo,
    Pair,
    PreprocessInfo,
    RunInfo,
)
from .diagnostics import Calibration, LabelIssues, PropertySlice
from .feature_space import Duplicates, FeatureSpace, Projection
from .findings import Finding
from .why import AttentionResult, ExplainInfo, PairActivations, Separation

# Fields are only ever added; a reader refuses a newer version than it knows.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows. ``media`` (thumbnails by path) and ``projection`` stay out of the embedded JSON."""

    tool_version: str
    created: str
    command: str
    title: str
    model: ModelInfo
    dataset: DatasetInfo
    preprocessing: PreprocessInfo
    run: RunInfo
    metrics: Metrics
    confusion: Confusion
    pairs: tuple[Pair, ...]
    clusters: tuple[Cluster, ...]
    galleries: tuple[Gallery, ...]
    findings: tuple[Finding, ...] = ()
    focus_classes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION
    media: dict[str, str] = field(default_factory=dict)
    label_issues: LabelIssues | None = None
    slices: tuple[PropertySlice, ...] = ()
    calibration: Calibration | None = None
    # Feature space (issue 5): neighbour overlap and near-duplicates travel in the JSON; the 2-D
    # coordinates only feed the chart, so they are left out of it.
    feature_space: FeatureSpace | None = None
    duplicates: Duplicates | None = None
    projection: Projection | None = None
    # Why the model decides (attention from the in-pass CAMs, depth of separation, overlays, activations).
    attention: AttentionResult | None = None
    separation: Separation | None = None
    explain: ExplainInfo | None = None
    activations: tuple[PairActivations, ...] = ()
    # Per-image predictions: `confusion-report diff` pairs two runs image by image.
    images: ImagePredictions | None = None
    # Many classes (issue 13): confusion within vs across the groups of --class-groups.
    class_groups: ClassGroups | None = None

    def to_dict(self, *, include_media: bool = True) -> dict[str, Any]:
        """The JSON contract as plain Python values, ``schema_version`` first."""
        data = to_jsonable(self)
        if not include_media:
            # Thumbnails and the chart's 2-D coordinates are already in the page; the embedded JSON
            # leaves them out, the --json file keeps them so that `render` can rebuild the whole page.
            data.pop("media")
            data.pop("projection", None)
        ordered = {"schema_version": data.pop("schema_version")}
        ordered.update(data)
        return ordered

    def to_json(self, *, include_media: bool = True, indent: int | None = 1) -> str:
        """Serialise to JSON text; with ``include_media`` the thumbnails travel too (for re-rendering)."""
        data = self.to_dict(include_media=include_media)
        images = data.pop("images", None)
        text = json.dumps(data, indent=indent, ensure_ascii=False)
        if images is None:
            return text
        if indent is None:
            return text[:-1] + ', "images": ' + json.dumps(images, ensure_ascii=False) + "}"
        # Indented, the per-image lists would take one line per value (a third more bytes at 10,000
        # images); they go on one line, last, so the rest of the file stays readable.
        compact = json.dumps(images, ensure_ascii=False, separators=(",", ":"))
        return text[:-2] + ",\n" + " " * indent + '"images": ' + compact + "\n}"

    @classmethod
    def from_json(cls, text: str) -> ReportData:
        """Read what :meth:`to_json` wrote; refuses a newer, unknown schema version."""
        data = json.loads(text)
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(
                f"results file has schema_version {version!r}; this confusion-report reads up to {SCHEMA_VERSION}"
            )
        return from_jsonable(cls, data)

    def with_media(self, media: dict[str, str]) -> ReportData:
        """A copy holding these thumbnails."""
        return replace(self, media=dict(media))

    def to_html(self) -> str:
        """The self-contained report page as a string (what ``build(out=...)`` writes)."""
        from ..render.html import render_html  # rendering is imported lazily: results stay light

        return render_html(self)

    def save(self, path: str | Path) -> int:
        """Write the report page to ``path`` atomically; return its size in bytes."""
        from ..render.html import write_report

        return write_report(self, Path(path))

    def _repr_html_(self) -> str:
        """Jupyter shows the whole report inline, in a sandboxed iframe that cannot reach the network."""
        from ..render.notebook import notebook_iframe

        return notebook_iframe(self.to_html(), title=self.title)
