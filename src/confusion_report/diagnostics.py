"""Diagnostics: label issues, property slices and calibration, then every findings rule over all results.

Part of the analyse stage, after the core, feature-space and why analyses, whose results the rules
read (the feature space's pair overlap, k-NN graph and near-duplicate groups; the in-pass CAMs and
stage probes as rule inputs). Pure numpy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analyses.calibration import compute_calibration
from .analyses.image_stats import ImageStats
from .analyses.knn import KnnGraph
from .analyses.label_issues import K_NEIGHBOURS, find_label_issues
from .analyses.predictions import Predictions
from .analyses.slices import find_slices
from .display import LIMITS
from .findings import FindingInputs, run_rules
from .findings.inputs import PairAttentionInput, StageSeparability
from .results import (
    Calibration,
    Cluster,
    Confusion,
    Duplicates,
    FeatureSpace,
    Finding,
    LabelIssues,
    Metrics,
    Pair,
    PropertySlice,
    SkippedFile,
)


@dataclass(frozen=True)
class Diagnostics:
    """What the diagnostics stage adds to a report."""

    image_stats: ImageStats | None
    label_issues: LabelIssues | None
    slices: tuple[PropertySlice, ...]
    calibration: Calibration
    findings: tuple[Finding, ...]

    def shown_paths(self) -> list[str]:
        """Images the report shows for this stage: the findings' examples and the listed suspects."""
        out = [e for f in self.findings for e in f.examples[: LIMITS.finding_examples]]
        if self.label_issues is not None:
            out += [s.path for s in self.label_issues.suspects[: LIMITS.suspects]]
        return out


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
    feature_space: FeatureSpace | None = None,
    duplicates: Duplicates | None = None,
) -> Diagnostics:
    """Label issues, property slices and calibration; then every rule."""
    stats = None
    if sizes is not None and "stat_brightness" in extras:
        stats = ImageStats.from_arrays({k.removeprefix("stat_"): v for k, v in extras.items()}, sizes)
    # The feature space's k-NN graph serves label issues and feature overlap.
    nbr_idx = graph.index[:, :K_NEIGHBOURS] if graph is not None and graph.k >= K_NEIGHBOURS else None
    label_issues = find_label_issues(p, neighbours=nbr_idx) if len(p.labels) >= 20 else None
    slices = find_slices(p, stats, pairs) if stats is not None else ()
    calibration = compute_calibration(p)
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
        overlaps=feature_space.pairs if feature_space is not None else (),
        duplicates=duplicates.groups if duplicates is not None else (),
        attention=attention,
        separability=separability,
    )
    return Diagnostics(
        image_stats=stats,
        label_issues=label_issues,
        slices=slices,
        calibration=calibration,
        findings=run_rules(inputs),
    )
