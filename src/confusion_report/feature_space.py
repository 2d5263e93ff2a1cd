"""Feature space, part of the analyse stage: projection for the chart, neighbour overlap, near-duplicates.

The analyse stage calls :func:`run_feature_space` after the core analyses. It needs the embeddings; without
them it returns nothing and says why. No torch here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analyses.duplicates import dhash, find_duplicates
from .analyses.knn import KnnGraph, knn_graph, normalise
from .analyses.neighbours import K, analyse_neighbours
from .analyses.predictions import Predictions
from .analyses.projection import MAX_POINTS, project
from .data import load_rgb
from .display import LIMITS
from .results import Duplicates, FeatureSpace, Gallery, Pair, Projection

# Tooltip thumbnails in the chart: the most confident errors and a seeded sample of correct images.
TOOLTIP_ERRORS = 500
TOOLTIP_CORRECT = 200
DUPLICATE_K = 5


@dataclass(frozen=True)
class FeatureSpaceOutput:
    """What the stage adds to the report, and the images it wants thumbnails for."""

    feature_space: FeatureSpace | None
    duplicates: Duplicates | None
    projection: Projection | None
    graph: KnnGraph | None
    media_paths: tuple[str, ...]
    warnings: tuple[str, ...]
    seconds: dict[str, float]


def _image_hash(root: Path, paths: Sequence[str], hashes: np.ndarray | None) -> Callable[[str], int | None]:
    """The pass's hash of an image when it has one, else the hash of its file (decoded again here)."""
    from_pass = dict(zip(paths, hashes.tolist(), strict=True)) if hashes is not None else {}

    def image_hash(rel: str) -> int | None:
        if rel in from_pass:
            return from_pass[rel]
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        try:
            img, _ = load_rgb(path)
        except (ValueError, OSError):
            return None
        return dhash(img)

    return image_hash


def tooltip_paths(
    projection: Projection, *, errors: int = TOOLTIP_ERRORS, correct: int = TOOLTIP_CORRECT, seed: int = 0
):
    """Paths of the chart points that get a thumbnail in their tooltip."""
    wrong = projection.labels != projection.preds
    err_idx = np.flatnonzero(wrong)
    err_idx = err_idx[np.argsort(-projection.confidence[err_idx], kind="stable")][:errors]
    ok_idx = np.flatnonzero(~wrong)
    rng = np.random.default_rng(seed)
    ok_idx = rng.choice(ok_idx, size=min(correct, len(ok_idx)), replace=False) if len(ok_idx) else ok_idx
    return tuple(projection.paths[i] for i in np.concatenate([err_idx, np.sort(ok_idx)]))


def run_feature_space(
    p: Predictions,
    *,
    pairs: Sequence[Pair],
    galleries: Sequence[Gallery],
    root: Path,
    hashes: np.ndarray | None = None,
    method: str = "umap",
    max_points: int = MAX_POINTS,
    seed: int = 0,
    log: Callable[[str], None] = lambda message: None,
) -> FeatureSpaceOutput:
    """Project, measure neighbour overlap and find near-duplicates on ``p.embeddings``; ``hashes`` are the
    pass's difference hashes of the images (aligned with ``p``), without which the files are hashed."""
    if p.embeddings is None or len(p.labels) < 2:
        return FeatureSpaceOutput(
            None, None, None, None, (), ("No embeddings: the feature-space section is left out.",), {}
        )
    seconds: dict[str, float] = {}
    warnings: list[str] = []
    t = time.perf_counter()
    projection, info = project(p, method=method, max_points=max_points, seed=seed)
    seconds["projection"] = time.perf_counter() - t
    log(f"projection: {method} of {info.n_points} points in {info.seconds:.1f} s")
    if info.sampled:
        warnings.append(
            f"The embedding chart shows a stratified sample of {info.n_points} of {info.n_total} images "
            f"(all {info.n_errors} errors kept)."
        )

    t = time.perf_counter()
    unit = normalise(p.embeddings)
    graph = knn_graph(unit, k=max(K, DUPLICATE_K))
    seconds["knn"] = time.perf_counter() - t
    t = time.perf_counter()
    feature_space = analyse_neighbours(p, unit, graph, pairs=pairs, galleries=galleries, projection=info, seed=seed)
    seconds["neighbours"] = time.perf_counter() - t
    t = time.perf_counter()
    duplicates = find_duplicates(p, graph, image_hash=_image_hash(root, p.paths, hashes))
    seconds["duplicates"] = time.perf_counter() - t
    log(
        f"neighbours: k-NN {seconds['knn']:.1f} s, overlap {seconds['neighbours']:.1f} s; "
        f"near-duplicates: {duplicates.n_groups} groups ({duplicates.n_conflicting} with different labels) "
        f"in {seconds['duplicates']:.1f} s"
    )
    if duplicates.n_conflicting:
        warnings.append(
            f"{duplicates.n_conflicting} group(s) of near-duplicate images carry different labels "
            "(listed under Near-duplicates)."
        )
    media_paths = [*tooltip_paths(projection, seed=seed)]
    for e in feature_space.error_neighbours:
        media_paths.append(e.path)
        media_paths.extend(n.path for n in e.neighbours)
    for g in duplicates.groups[: LIMITS.duplicate_groups]:
        media_paths.extend(m.path for m in g.members)
    return FeatureSpaceOutput(
        feature_space, duplicates, projection, graph, tuple(dict.fromkeys(media_paths)), tuple(warnings), seconds
    )
