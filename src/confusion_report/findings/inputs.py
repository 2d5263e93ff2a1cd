"""What the rules read: the report's results plus the extra evidence of the diagnostics stage."""

from __future__ import annotations

from dataclasses import dataclass

from ..analyses.image_stats import ImageStats
from ..analyses.predictions import Predictions
from ..evidence import (
    Calibration,
    DuplicateGroup,
    LabelIssues,
    PairAttentionInput,
    PairOverlap,
    PropertySlice,
    StageSeparability,
)
from ..results import Cluster, Confusion, Metrics, Pair, SkippedFile


@dataclass(frozen=True)
class FindingInputs:
    """Everything a rule may read; what a build did not compute is None or empty, and rules then stay silent."""

    classes: tuple[str, ...]
    confusion: Confusion
    pairs: tuple[Pair, ...]
    clusters: tuple[Cluster, ...]
    metrics: Metrics
    predictions: Predictions | None = None
    n_images: int = 0
    skipped: tuple[SkippedFile, ...] = ()
    conversions: dict[str, int] | None = None
    image_stats: ImageStats | None = None
    label_issues: LabelIssues | None = None
    slices: tuple[PropertySlice, ...] = ()
    calibration: Calibration | None = None
    overlaps: tuple[PairOverlap, ...] = ()
    duplicates: tuple[DuplicateGroup, ...] = ()
    attention: tuple[PairAttentionInput, ...] = ()
    separability: tuple[StageSeparability, ...] = ()

    def anchor(self, true: str, pred: str) -> str | None:
        """The report anchor of a directed pair, if the pair is listed."""
        for p in self.pairs:
            if p.true == true and p.pred == pred:
                return p.anchor
        return None

    def pair(self, true: str, pred: str) -> Pair | None:
        """The listed directed pair, if any."""
        for p in self.pairs:
            if p.true == true and p.pred == pred:
                return p
        return None
