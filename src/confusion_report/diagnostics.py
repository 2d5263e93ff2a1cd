"""The diagnostics stage: extra analyses behind the automatic findings, then the rules themselves.

Kept out of ``api.py`` so that the build gains one call. Pure numpy (plus Pillow to confirm
near-duplicates on pixels); no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analyses.calibration import compute_calibration
from .analyses.image_stats import ImageStats
from .analyses.knn import KnnGraph
from .analyses.label_issues import K_NEIGHBOURS, find_label_issues
from .analyses.overlap import pair_overlaps
from .analyses.predictions import Predictions
from .analyses.slices import find_slices
from .evidence import (
    Calibration,
    DuplicateGroup,
    LabelIssues,
    PairAttentionInput,
    PairOverlap,
    PropertySlice,
    StageSeparability,
)
from .feature_results import Duplicates
from .findings import FindingInputs, run_rules
from .results import Cluster, Confusion, Finding, Metrics, Pair, SkippedFile


@dataclass(frozen=True)
class Diagnostics:
    """What the diagnostics stage adds to a report."""

    image_stats: ImageStats | None
    label_issues: LabelIssues | None
    slices: tuple[PropertySlice, ...]
    calibration: Calibration
    overlaps: tuple[PairOverlap, ...]
    findings: tuple[Finding, ...]

    def shown_paths(self, *, suspects: int = 24) -> list[str]:
        """Images the report shows for this stage (need thumbnails)."""
        out = [e for f in self.findings for e in f.examples]
        if self.label_issues is not None:
            out += [s.path for s in self.label_issues.suspects[:suspects]]
        out += [e for s in self.slices[:6] for e in s.examples[:6]]
        return out


def duplicate_inputs(duplicates: Duplicates | None) -> tuple[DuplicateGroup, ...]:
    """The near_duplicates rule's view of the feature space's groups (embedding + pixel hash confirmed)."""
    if duplicates is None:
        return ()
    return tuple(
        DuplicateGroup(
            paths=tuple(m.path for m in g.members),
            labels=tuple(m.label for m in g.members),
            similarity=g.min_similarity,
            pixel_checked=True,
        )
        for g in duplicates.groups
    )


def run_diagnostics(
    p: Predictions,
    *,
    confusion: Confusion,
    pairs: tuple[Pair, ...],
    clusters: tuple[Cluster, ...],
    metrics: Metrics,
    extras: dict[str, np.ndarray],
    sizes: np.ndarray | None,
    skipped: tuple[SkippedFile, ...] = (),
    conversions: dict[str, int] | None = None,
    attention: tuple[PairAttentionInput, ...] = (),
    separability: tuple[StageSeparability, ...] = (),
    graph: KnnGraph | None = None,
    duplicates: Duplicates | None = None,
) -> Diagnostics:
    """Label issues, property slices, calibration, feature overlap, near-duplicates; then every rule."""
    stats = None
    if sizes is not None and "stat_brightness" in extras:
        stats = ImageStats.from_arrays({k.removeprefix("stat_"): v for k, v in extras.items()}, sizes)
    # The feature space's k-NN graph serves label issues and feature overlap.
    nbr_idx = graph.index[:, :K_NEIGHBOURS] if graph is not None and graph.k >= K_NEIGHBOURS else None
    label_issues = find_label_issues(p, neighbours=nbr_idx) if len(p.labels) >= 20 else None
    slices = find_slices(p, stats, pairs) if stats is not None else ()
    calibration = compute_calibration(p)
    overlaps = pair_overlaps(p, pairs, neighbours=nbr_idx)
    inputs = FindingInputs(
        classes=p.names,
        confusion=confusion,
        pairs=pairs,
        clusters=clusters,
        metrics=metrics,
        predictions=p,
        n_images=len(p.labels),
        skipped=skipped,
        conversions=conversions,
        image_stats=stats,
        label_issues=label_issues,
        slices=slices,
        calibration=calibration,
        overlaps=overlaps,
        duplicates=duplicate_inputs(duplicates),
        attention=attention,
        separability=separability,
    )
    return Diagnostics(
        image_stats=stats,
        label_issues=label_issues,
        slices=slices,
        calibration=calibration,
        overlaps=overlaps,
        findings=run_rules(inputs),
    )
