"""The frozen results of a diff: what changed between BASE and NEW on the images both runs saw."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricDelta:
    """One headline metric on both runs and the 95% paired-bootstrap interval of NEW - BASE."""

    key: str
    label: str
    base: float
    new: float
    delta: float
    low: float
    high: float
    higher_is_better: bool = True

    @property
    def worse(self) -> bool:
        """The interval excludes zero on the bad side."""
        return self.high < 0 if self.higher_is_better else self.low > 0

    @property
    def better(self) -> bool:
        """The interval excludes zero on the good side."""
        return self.low > 0 if self.higher_is_better else self.high < 0


@dataclass(frozen=True)
class McNemar:
    """Images whose correctness changed, and McNemar's exact test that the two directions are equally likely."""

    right_to_wrong: int
    wrong_to_right: int
    wrong_changed: int  # wrong in both, but predicted as another wrong class
    p_value: float


@dataclass(frozen=True)
class ClassDelta:
    """Recall and precision of one class on both runs; the recall change is tested on its own images."""

    name: str = field(metadata={"json": "class"})
    support: int
    recall_base: float
    recall_new: float
    precision_base: float
    precision_new: float
    right_to_wrong: int
    wrong_to_right: int
    p_value: float  # McNemar's exact test on this class's images
    q_value: float  # Benjamini-Hochberg over the classes
    significant: bool

    @property
    def recall_delta(self) -> float:
        """NEW - BASE recall."""
        return self.recall_new - self.recall_base

    @property
    def precision_delta(self) -> float:
        """NEW - BASE precision."""
        return self.precision_new - self.precision_base


@dataclass(frozen=True)
class ConfusionDelta:
    """Both confusion matrices over the common classes (rows true, columns predicted) in display order."""

    classes: tuple[str, ...]
    base: tuple[tuple[int, ...], ...]
    new: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]


@dataclass(frozen=True)
class PairDelta:
    """A directed confusion (true -> pred) whose count changed."""

    true: str
    pred: str
    base: int
    new: int
    support: int

    @property
    def delta(self) -> int:
        """NEW - BASE count."""
        return self.new - self.base


@dataclass(frozen=True)
class Flip:
    """An image whose correctness changed, with both predictions."""

    path: str
    true: str
    base_pred: str
    new_pred: str
    base_confidence: float
    new_confidence: float


@dataclass(frozen=True)
class FindingChange:
    """A finding (matched by kind and classes) that appeared, disappeared or changed severity."""

    change: str  # "appeared", "disappeared" or "severity"
    kind: str
    classes: tuple[str, ...]
    title: str
    base_severity: str | None
    new_severity: str | None


@dataclass(frozen=True)
class Comparison:
    """Everything the diff shows, computed from the paired per-image predictions and the two results."""

    n_common: int
    only_base: int
    only_new: int
    classes: tuple[str, ...]
    metrics: tuple[MetricDelta, ...]
    mcnemar: McNemar
    per_class: tuple[ClassDelta, ...]  # worst recall change first
    confusion: ConfusionDelta
    worse_pairs: tuple[PairDelta, ...]  # most grown first
    better_pairs: tuple[PairDelta, ...]  # most shrunk first
    right_to_wrong: tuple[Flip, ...]  # most confident NEW mistake first
    wrong_to_right: tuple[Flip, ...]  # most confident NEW correct prediction first
    findings: tuple[FindingChange, ...]
    bootstrap: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """Who is who in a diff: enough of each run to recognise it."""

    label: str  # the file name given on the command line, or the report title
    title: str
    model: str
    created: str
    command: str
    n_images: int
