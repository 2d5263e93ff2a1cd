"""The frozen results of one build: everything the report shows, and the JSON contract.

Analyses produce these objects; renderers only read them. ``ReportData.to_json`` writes the contract
described in the README (``schema_version`` 1) and ``ReportData.from_json`` reads it back, so a report
can be re-rendered without the model or torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from .confusion_json import decode_counts, encode_counts
from .evidence import Calibration, LabelIssues, PropertySlice
from .explain_results import AttentionResult, ExplainInfo, PairActivations, Separation
from .feature_results import Duplicates, FeatureSpace, Projection
from .group_results import ClassGroups
from .serde import from_jsonable, to_jsonable

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SkippedFile:
    """A file that was found but not used, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded and how its layers were reached."""

    path: str
    format: str
    num_outputs: int
    input_size: tuple[int, ...]
    target_layer: str | None = None
    embedding_layer: str | None = None
    embedding_dim: int | None = None
    hookable: bool = True
    parameters: int | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """The labelled images: where they came from, which were used and which were not."""

    root: str
    source: str
    n_images: int
    n_found: int
    classes: tuple[str, ...]
    class_counts: tuple[int, ...]
    skipped: tuple[SkippedFile, ...] = ()
    empty_classes: tuple[str, ...] = ()
    conversions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PreprocessInfo:
    """The resolved preprocessing pipeline, as applied to every image."""

    preset: str
    resize: int | None
    crop: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    steps: tuple[str, ...]


@dataclass(frozen=True)
class RunInfo:
    """How and where the pass ran (volatile parts are scrubbed by the golden tests)."""

    device: str
    amp: str | None
    batch_size: int
    workers: int
    seconds_pass: float
    seconds_total: float
    images_per_second: float
    torch_version: str
    pass_cache: str | None = None
    world_size: int = 1
    decode: str = "cpu"


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall, F1 and support of one class."""

    name: str = field(metadata={"json": "class"})
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@dataclass(frozen=True)
class Metrics:
    """Headline and per-class metrics."""

    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    n_errors: int
    per_class: tuple[ClassMetrics, ...]
    top5: float | None = None
    ece: float | None = None


@dataclass(frozen=True)
class Confusion:
    """Confusion matrix: rows are true classes, columns predicted classes."""

    classes: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]

    # Many classes (issue 13): above SPARSE_ABOVE classes the JSON stores the non-zero cells only.
    def json_encode(self) -> dict[str, Any]:
        """``classes``, then dense ``counts`` or ``sparse`` cells (see confusion_json), then ``order``."""
        return {"classes": list(self.classes), **encode_counts(self.counts), "order": list(self.order)}

    @classmethod
    def json_decode(cls, data: dict[str, Any]) -> Confusion:
        """Read either form that :meth:`json_encode` writes."""
        return cls(tuple(data["classes"]), decode_counts(data), tuple(int(i) for i in data["order"]))


@dataclass(frozen=True)
class Pair:
    """A directed confusion: images of ``true`` predicted as ``pred``."""

    true: str
    pred: str
    count: int
    rate: float
    error_share: float
    reverse_count: int
    mean_confidence: float
    anchor: str
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cluster:
    """A group of classes confused among themselves."""

    classes: tuple[str, ...]
    errors: int
    error_share: float


@dataclass(frozen=True)
class ImageRef:
    """One image as a gallery shows it."""

    path: str
    true: str
    pred: str
    confidence: float
    true_prob: float


@dataclass(frozen=True)
class Gallery:
    """The errors of one pair beside typical correctly classified images of both classes."""

    true: str
    pred: str
    anchor: str
    errors: tuple[ImageRef, ...]
    typical_true: tuple[ImageRef, ...]
    typical_pred: tuple[ImageRef, ...]
    typical_by: str


@dataclass(frozen=True)
class Finding:
    """One statement the report makes, with its evidence."""

    kind: str
    severity: str
    title: str
    text: str
    classes: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    examples: tuple[str, ...] = ()


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
        return json.dumps(self.to_dict(include_media=include_media), indent=indent, ensure_ascii=False)

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
