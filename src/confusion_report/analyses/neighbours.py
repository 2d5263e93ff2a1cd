"""Do the confused classes overlap in the model's own feature space? Measured on the full embeddings.

Everything uses cosine similarity of centred, unit-length embeddings (see ``knn.normalise``):
k-nearest-neighbour label shares per class and per pair, the pair's cosine silhouette, class-centroid
similarity, and the nearest neighbours of each gallery error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results import (
    ClassOverlap,
    ErrorNeighbours,
    FeatureSpace,
    Gallery,
    Neighbour,
    Pair,
    PairOverlap,
    ProjectionInfo,
    SimilarClasses,
)
from .knn import KnnGraph, nearest_within
from .predictions import Predictions

K = 10
PAIRS_MEASURED = 10
NEIGHBOURS_SHOWN = 5
SILHOUETTE_SAMPLE = 2000
CENTROID_MATRIX_MAX_CLASSES = 100
SIMILAR_CLASSES_SHOWN = 10
# mixing / chance: at or above OVERLAP the two classes are as mixed as random labels would be (half
# way); below APART almost no neighbour comes from the other class.
OVERLAP = 0.5
APART = 0.1


def class_overlap(labels: np.ndarray, graph: KnnGraph, names: Sequence[str]) -> tuple[ClassOverlap, ...]:
    """Per class: the share of its images' k nearest neighbours with another label, and which label leads."""
    n_classes = len(names)
    out = []
    neigh_labels = labels[graph.index]
    for c in range(n_classes):
        members = labels == c
        support = int(members.sum())
        if support == 0 or graph.k == 0:
            continue
        nl = neigh_labels[members]
        counts = np.bincount(nl.ravel(), minlength=n_classes).astype(np.float64)
        total = counts.sum()
        other = total - counts[c]
        counts[c] = -1
        best = int(counts.argmax())
        has_other = other > 0
        out.append(
            ClassOverlap(
                name=names[c],
                support=support,
                other_share=float(other / total),
                nearest_class=names[best] if has_other else None,
                nearest_share=float(counts[best] / total) if has_other else 0.0,
            )
        )
    return tuple(out)


def pair_overlap(
    unit: np.ndarray,
    labels: np.ndarray,
    graph: KnnGraph,
    a: int,
    b: int,
    *,
    names: Sequence[str],
    errors: int = 0,
    k: int = K,
    centroid_cosine: float | None = None,
    seed: int = 0,
) -> PairOverlap | None:
    """Overlap of classes ``a`` and ``b``; None when either has fewer than two images."""
    in_a, in_b = labels == a, labels == b
    n_a, n_b = int(in_a.sum()), int(in_b.sum())
    if n_a < 2 or n_b < 2:
        return None
    neigh = labels[graph.index]
    share_ab = float((neigh[in_a] == b).mean()) if graph.k else 0.0
    share_ba = float((neigh[in_b] == a).mean()) if graph.k else 0.0
    subset = np.flatnonzero(in_a | in_b)
    sub_labels = labels[subset]
    sub_unit = unit[subset]
    mixing = float((sub_labels[nearest_within(sub_unit, k=k)] != sub_labels[:, None]).mean())
    n = n_a + n_b
    chance = 2.0 * n_a * n_b / (n * (n - 1))
    ratio = mixing / chance
    silhouette = cosine_silhouette(sub_unit, sub_labels, sample_size=SILHOUETTE_SAMPLE, seed=seed)
    if centroid_cosine is None:
        c = _centroids(unit, labels, [a, b])
        centroid_cosine = float(c[0] @ c[1])
    verdict = "overlapping" if ratio >= OVERLAP else "apart" if ratio < APART else "partly overlapping"
    return PairOverlap(
        a=names[a],
        b=names[b],
        errors=errors,
        n_a=n_a,
        n_b=n_b,
        share_ab=share_ab,
        share_ba=share_ba,
        mixing=mixing,
        chance=chance,
        mixing_ratio=ratio,
        centroid_cosine=float(centroid_cosine),
        silhouette=silhouette,
        verdict=verdict,
    )


def cosine_silhouette(unit: np.ndarray, labels: np.ndarray, *, sample_size: int, seed: int) -> float:
    """scikit-learn's ``silhouette_score(metric="cosine", sample_size=..., random_state=seed)`` for unit-length
    rows (the same sample: ``RandomState(seed).permutation(n)[:sample_size]``), without the n x n matrix.

    For unit rows the summed cosine distance from row i to class c is ``n_c - u_i . S_c`` with ``S_c`` the sum
    of the class's rows, so the silhouette needs n x classes dot products (one pair's 2,000 images: 30 ms ->
    under 1 ms); a row's distance to itself, ``1 - u_i . u_i`` (zero up to rounding), is taken out of its own
    class's sum as the matrix version's zeroed diagonal does."""
    n = len(unit)
    if n > sample_size:
        keep = np.random.RandomState(seed).permutation(n)[:sample_size]
        unit, labels = unit[keep], labels[keep]
    u = np.asarray(unit, dtype=np.float64)
    classes, inverse = np.unique(labels, return_inverse=True)
    if not 2 <= len(classes) <= len(u) - 1:
        raise ValueError("a silhouette needs 2 to n - 1 labels")
    rows = np.arange(len(u))
    onehot = np.zeros((len(u), len(classes)))
    onehot[rows, inverse] = 1.0
    sizes = onehot.sum(axis=0)
    sums = sizes[None, :] - u @ (onehot.T @ u).T  # (n, classes): summed distance to each class
    sums[rows, inverse] -= 1.0 - np.einsum("ij,ij->i", u, u)
    own = sizes[inverse] - 1
    a = sums[rows, inverse] / np.maximum(own, 1)
    others = sums / sizes
    others[rows, inverse] = np.inf
    b = others.min(axis=1)
    s = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(np.nan_to_num(s).mean())


def _centroids(unit: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Unit-length mean embedding of each class (zero rows for empty classes)."""
    out = np.zeros((len(classes), unit.shape[1]), dtype=np.float64)
    for row, c in enumerate(classes):
        members = unit[labels == c]
        if len(members):
            m = members.mean(axis=0, dtype=np.float64)
            out[row] = m / max(np.linalg.norm(m), 1e-12)
    return out


def centroid_cosine_matrix(unit: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Cosine similarity of the class centroids, ``n_classes`` x ``n_classes``."""
    c = _centroids(unit, labels, range(n_classes))
    return c @ c.T


def _similar_classes(matrix: np.ndarray, present: np.ndarray, names: Sequence[str]) -> tuple[SimilarClasses, ...]:
    iu, ju = np.triu_indices(len(names), 1)
    ok = present[iu] & present[ju]
    iu, ju = iu[ok], ju[ok]
    vals = matrix[iu, ju]
    order = np.argsort(-vals, kind="stable")[:SIMILAR_CLASSES_SHOWN]
    return tuple(SimilarClasses(names[iu[t]], names[ju[t]], float(vals[t])) for t in order)


def error_neighbours(
    p: Predictions, graph: KnnGraph, paths: Sequence[str], *, shown: int = NEIGHBOURS_SHOWN
) -> tuple[ErrorNeighbours, ...]:
    """For each listed (error) image: nearest neighbours, and the shares of its true and predicted class."""
    where = {path: i for i, path in enumerate(p.paths)}
    preds = p.preds
    out = []
    for path in dict.fromkeys(paths):
        i = where.get(path)
        if i is None or graph.k == 0:
            continue
        neigh = graph.index[i]
        nl = p.labels[neigh]
        out.append(
            ErrorNeighbours(
                path=path,
                true=p.names[p.labels[i]],
                pred=p.names[preds[i]],
                share_true=float((nl == p.labels[i]).mean()),
                share_pred=float((nl == preds[i]).mean()),
                neighbours=tuple(
                    Neighbour(p.paths[j], p.names[p.labels[j]], p.names[preds[j]], float(s))
                    for j, s in zip(neigh[:shown], graph.similarity[i, :shown], strict=True)
                ),
            )
        )
    return tuple(out)


def analyse_neighbours(
    p: Predictions,
    unit: np.ndarray,
    graph: KnnGraph,
    *,
    pairs: Sequence[Pair],
    galleries: Sequence[Gallery] = (),
    projection: ProjectionInfo | None = None,
    n_pairs: int = PAIRS_MEASURED,
    seed: int = 0,
) -> FeatureSpace:
    """The whole neighbour analysis: per class, per top pair (each unordered pair once), centroids, gallery errors."""
    n_classes = len(p.names)
    matrix = centroid_cosine_matrix(unit, p.labels, n_classes)
    present = np.bincount(p.labels, minlength=n_classes) > 0
    index = {n: i for i, n in enumerate(p.names)}
    measured: list[PairOverlap] = []
    seen: set[frozenset[int]] = set()
    for pair in pairs:
        if len(measured) >= n_pairs:
            break
        a, b = index[pair.true], index[pair.pred]
        if frozenset((a, b)) in seen:
            continue
        seen.add(frozenset((a, b)))
        overlap = pair_overlap(
            unit,
            p.labels,
            graph,
            a,
            b,
            names=p.names,
            errors=pair.count + pair.reverse_count,
            k=graph.k or K,
            centroid_cosine=float(matrix[a, b]),
            seed=seed,
        )
        if overlap is not None:
            measured.append(overlap)
    shown_errors = [img.path for g in galleries for img in g.errors]
    small = n_classes <= CENTROID_MATRIX_MAX_CLASSES
    return FeatureSpace(
        embedding_dim=int(unit.shape[1]),
        k=graph.k,
        metric="cosine of centred, unit-length embeddings",
        projection=projection,
        classes=class_overlap(p.labels, graph, p.names),
        pairs=tuple(measured),
        similar_classes=_similar_classes(matrix, present, p.names),
        centroid_classes=tuple(p.names) if small else (),
        centroid_cosine=tuple(tuple(float(v) for v in row) for row in matrix) if small else (),
        error_neighbours=error_neighbours(p, graph, shown_errors),
        knn_recall=graph.recall,
        notes=()
        if small
        else (f"centroid similarity matrix left out ({n_classes} classes); the most similar pairs are listed",),
    )
