"""The diagnostics stage: extra analyses behind the automatic findings, then the rules themselves.

Kept out of ``api.py`` so that the build gains one call. Pure numpy (plus Pillow to confirm
near-duplicates on pixels); no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analyses.calibration import compute_calibration
from .analyses.pixel_duplicates import find_duplicate_groups
from .analyses.image_stats import ImageStats
from .analyses.label_issues import K_NEIGHBOURS, find_label_issues
from .analyses.neighbour_labels import knn
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
    duplicates: tuple[DuplicateGroup, ...]
    findings: tuple[Finding, ...]

    def shown_paths(self, *, suspects: int = 24) -> list[str]:
        """Images the report shows for this stage (need thumbnails)."""
        out = [e for f in self.findings for e in f.examples]
        if self.label_issues is not None:
            out += [s.path for s in self.label_issues.suspects[:suspects]]
        out += [e for s in self.slices[:6] for e in s.examples[:6]]
        return out


def _pixel_loader(root: Path, paths: Sequence[str]):
    from .data import load_rgb

    def load(i: int) -> np.ndarray | None:
        path = Path(paths[i])
        try:
            img, _ = load_rgb(path if path.is_absolute() else root / path)
        except (ValueError, OSError):
            return None
        return np.asarray(img)

    return load


def run_diagnostics(
    p: Predictions,
    *,
    confusion: Confusion,
    pairs: tuple[Pair, ...],
    clusters: tuple[Cluster, ...],
    metrics: Metrics,
    extras: dict[str, np.ndarray],
    sizes: np.ndarray | None,
    root: Path | None,
    skipped: tuple[SkippedFile, ...] = (),
    conversions: dict[str, int] | None = None,
    attention: tuple[PairAttentionInput, ...] = (),
    separability: tuple[StageSeparability, ...] = (),
) -> Diagnostics:
    """Label issues, property slices, calibration, feature overlap, near-duplicates; then every rule."""
    stats = None
    if sizes is not None and "stat_brightness" in extras:
        stats = ImageStats.from_arrays({k.removeprefix("stat_"): v for k, v in extras.items()}, sizes)
    # One kNN on the embeddings serves label issues, feature overlap and near-duplicates.
    nbrs = knn(p.embeddings, K_NEIGHBOURS) if p.embeddings is not None and len(p.labels) > K_NEIGHBOURS else None
    nbr_idx = nbrs[0] if nbrs is not None else None
    label_issues = find_label_issues(p, neighbours=nbr_idx) if len(p.labels) >= 20 else None
    slices = find_slices(p, stats, pairs) if stats is not None else ()
    calibration = compute_calibration(p)
    overlaps = pair_overlaps(p, pairs, neighbours=nbr_idx)
    loader = _pixel_loader(root, p.paths) if root is not None else None
    duplicates = find_duplicate_groups(p.embeddings, p.labels, p.names, p.paths, pixels=loader, neighbours=nbrs)
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
        duplicates=duplicates,
        attention=attention,
        separability=separability,
    )
    return Diagnostics(
        image_stats=stats,
        label_issues=label_issues,
        slices=slices,
        calibration=calibration,
        overlaps=overlaps,
        duplicates=duplicates,
        findings=run_rules(inputs),
    )
