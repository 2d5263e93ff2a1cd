"""What the rules read: the report's results, the diagnostics, and two small input shapes of their own.

:class:`PairAttentionInput` (per-image attention grids of a pair) and :class:`StageSeparability`
(per-stage probe accuracies) are the rules' inputs rather than report results: any producer (the
in-pass CAMs, occlusion, a test) can fill them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analyses.image_stats import ImageStats
from ..analyses.predictions import Predictions
from ..results import (
    Calibration,
    Cluster,
    Confusion,
    DuplicateGroup,
    LabelIssues,
    Metrics,
    Pair,
    PairOverlap,
    PropertySlice,
    SkippedFile,
)


@dataclass(frozen=True)
class PairAttentionInput:
    """Where the model looks for one directed pair, errors against correct predictions.

    ``error_cells`` (n_errors x 9) and ``correct_cells`` (n_correct x 9): per image, the share of its
    (non-negative) attention map in each 3x3 cell (rows sum to 1, order ``GRID_NAMES``), for the
    errors ``true -> pred`` and for correctly classified images of ``true`` and ``pred``.
    ``error_border`` / ``correct_border``: per image, the share of attention in the outer ring
    (e.g. the outer 1/8 of each side); leave empty when unknown.
    """

    true: str
    pred: str
    error_cells: np.ndarray
    correct_cells: np.ndarray
    error_border: np.ndarray = field(default_factory=lambda: np.zeros(0))
    correct_border: np.ndarray = field(default_factory=lambda: np.zeros(0))
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSeparability:
    """Linear-probe accuracy separating ``true`` from ``pred`` at each stage of the network, shallow first.

    ``accuracies[i]`` is a held-out accuracy on ``n`` balanced images (chance 0.5) at ``stage_names[i]``.
    """

    true: str
    pred: str
    stage_names: tuple[str, ...]
    accuracies: tuple[float, ...]
    n: int


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
