"""Core results: what was loaded and run, the metrics, the confusion matrix, pairs, clusters, galleries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .confusion_json import decode_counts, encode_counts


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
    target_layout: str | None = None  # how the target layer's output was read as maps (tokens, channels-last)
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
    # Images whose model output was NaN or infinite; they are also listed in ``skipped`` with the reason.
    non_finite: int = 0


@dataclass(frozen=True)
class PreprocessInfo:
    """The resolved preprocessing pipeline, as applied to every image."""

    preset: str
    resize: int | None
    crop: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    steps: tuple[str, ...]
    interpolation: str = "bilinear"
    resize_to: tuple[int, int] | None = None  # (h, w): resize to exactly this size instead of the shorter side


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
class ImagePredictions:
    """Every decoded image's label, prediction and confidence, compactly: what a diff of two runs pairs up.

    ``labels`` and ``preds`` index ``classes`` (the model's output names); ``paths`` are relative to the
    data root; ``confidence`` is the top softmax probability rounded to 3 digits (enough for ECE bins).
    """

    classes: tuple[str, ...]
    paths: tuple[str, ...]
    labels: tuple[int, ...]
    preds: tuple[int, ...]
    confidence: tuple[float, ...]
