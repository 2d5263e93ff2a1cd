"""The one feature-space geometry: centred unit-length embeddings and their k-nearest-neighbour graph.

Every feature-space measure (projection, pair overlap, near-duplicates, label issues' neighbour
agreement) uses :func:`normalise` and one :func:`knn_graph`, so a pair has one silhouette per report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def normalise(embeddings: np.ndarray) -> np.ndarray:
    """Centre on the mean embedding and scale each row to unit length (float32).

    Penultimate activations after a ReLU all sit in one orthant, where every cosine is high; centring
    makes cosine similarity tell classes apart.
    """
    e = np.asarray(embeddings, dtype=np.float32)
    e = e - e.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(norms, 1e-12)


# Up to this many images the neighbours are exact; above it they are searched cell by cell (see _cell_knn).
EXACT_MAX = 20_000
PROBES = 8  # cells searched per cell, multiplied by 4 until the measured recall reaches MIN_RECALL
MIN_RECALL = 0.95
RECALL_SAMPLE = 200  # images whose exact neighbours measure the recall of the cell search


@dataclass(frozen=True, eq=False)
class KnnGraph:
    """For each image its ``k`` nearest other images (``index``) and their cosine similarities, best first.

    ``recall`` is None for an exact graph; for a cell search, the share of the true ``k`` nearest
    neighbours it found, measured on a seeded sample of images."""

    index: np.ndarray
    similarity: np.ndarray
    recall: float | None = None

    @property
    def k(self) -> int:
        return self.index.shape[1]


def knn_graph(unit: np.ndarray, *, k: int, exact_max: int = EXACT_MAX, seed: int = 0) -> KnnGraph:
    """The k nearest neighbours by cosine of unit-length rows, excluding the image itself.

    Exact up to ``exact_max`` images: matrix products of row chunks against all rows, the top k of each
    chunk selected before the next (memory 2,048 x n). Above it the exact search grows with N^2 (50,000
    images x 128 dimensions: 18 s on 2 cores, mostly selecting the top k of 2.5 billion similarities), so
    the rows are grouped into cells by spherical k-means and each cell searches only its :data:`PROBES`
    nearest cells (0.1 of the time on class-structured embeddings). The recall is measured against an
    exact search for a sample of images; below :data:`MIN_RECALL` four times as many cells are searched,
    and the exact search runs once that would be half of them or more (embeddings without cluster structure).
    """
    n = len(unit)
    k = max(0, min(k, n - 1))
    if k == 0:
        return KnnGraph(np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=np.float32))
    if n > exact_max:
        return _cell_knn(np.asarray(unit, dtype=np.float32), k=k, seed=seed)
    return _exact_knn(unit, k=k)


def _exact_knn(unit: np.ndarray, *, k: int) -> KnnGraph:
    """Every row's ``k`` most cosine-similar other rows, exactly (see :func:`nearest_within`)."""
    index, similarity = _chunked_top_k(np.asarray(unit, dtype=np.float32), k=k)
    return KnnGraph(index, similarity)


def nearest_within(unit: np.ndarray, *, k: int, chunk: int = 2048) -> np.ndarray:
    """For each unit-length row, its ``k`` most cosine-similar other rows (n, k), most similar first.

    Plain matrix products in row chunks (memory ``chunk`` x n): for one pair's images this is several
    times faster than a scikit-learn search, whose set-up dominated at 2,000 rows (10 pairs: 1.2 s); and
    the default build needs no scikit-learn, whose import alone cost about 1 s of every cold start."""
    n = len(unit)
    k = max(0, min(k, n - 1))
    if k == 0:
        return np.empty((n, 0), dtype=np.int64)
    return _chunked_top_k(np.asarray(unit, dtype=np.float32), k=k, chunk=chunk)[0]


def _chunked_top_k(
    u: np.ndarray, *, k: int, rows: np.ndarray | None = None, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``k`` nearest other rows of each of ``rows`` (default: every
    row), best first, searched exactly among all rows."""
    rows = np.arange(len(u)) if rows is None else np.asarray(rows)
    index = np.empty((len(rows), k), dtype=np.int64)
    similarity = np.empty((len(rows), k), dtype=np.float32)
    for lo in range(0, len(rows), chunk):
        queries = rows[lo : lo + chunk]
        sim = u[queries] @ u.T
        sim[np.arange(len(queries)), queries] = -np.inf  # never its own neighbour (exact copies still count)
        index[lo : lo + chunk], similarity[lo : lo + chunk] = _top_k(sim, k)
    return index, similarity


def _top_k(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of each row's ``k`` largest entries, largest first."""
    width = sim.shape[1]
    top = np.argpartition(sim, width - k, axis=1)[:, width - k :]  # not of -sim: no negated copy
    values = np.take_along_axis(sim, top, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)


def _spherical_kmeans(unit: np.ndarray, cells: int, *, seed: int, iterations: int = 4) -> np.ndarray:
    """Cell of each row: a few Lloyd steps of k-means on the unit sphere from a seeded sample of rows."""
    rng = np.random.default_rng(seed)
    centres = unit[rng.choice(len(unit), size=cells, replace=False)].copy()
    assign = np.zeros(len(unit), dtype=np.int64)
    for _ in range(iterations):
        assign = np.concatenate([(unit[lo : lo + 8192] @ centres.T).argmax(axis=1) for lo in range(0, len(unit), 8192)])
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, unit)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] < 1e-12
        centres = np.where(empty[:, None], centres, sums / np.maximum(norms, 1e-12))
    return assign


def _cell_knn(unit: np.ndarray, *, k: int, seed: int, chunk: int = 1024) -> KnnGraph:
    """Neighbours searched among the rows of each cell's nearest cells (an inverted-file search), with as many
    cells probed as a recall of :data:`MIN_RECALL` needs."""
    n = len(unit)
    cells = max(2, int(np.sqrt(n)))
    assign = _spherical_kmeans(unit, cells, seed=seed)
    members = [np.flatnonzero(assign == c) for c in range(cells)]
    centres = np.stack([unit[m].mean(axis=0) if len(m) else np.zeros(unit.shape[1], np.float32) for m in members])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    nearest_cells = np.argsort(-(centres @ centres.T), axis=1, kind="stable")
    probes = PROBES
    while True:
        index, similarity = _probe_cells(unit, members, nearest_cells, k=k, probes=probes, chunk=chunk)
        recall = _recall(unit, index, k=k, seed=seed)
        if recall >= MIN_RECALL:
            return KnnGraph(index, similarity, recall=recall)
        probes *= 4
        if probes * 2 >= cells:  # most cells: the exact search is cheaper than cell by cell
            return _exact_knn(unit, k=k)


def _probe_cells(
    unit: np.ndarray, members: list[np.ndarray], nearest_cells: np.ndarray, *, k: int, probes: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    n = len(unit)
    index = np.empty((n, k), dtype=np.int64)
    similarity = np.empty((n, k), dtype=np.float32)
    for c, queries in enumerate(members):
        if len(queries) == 0:
            continue
        probed, count = [], 0
        for j in nearest_cells[c]:  # its own cell first; more cells while there are too few candidates
            probed.append(members[j])
            count += len(members[j])
            if len(probed) >= probes and count > k:
                break
        candidates = np.concatenate(probed)
        for lo in range(0, len(queries), chunk):
            q = queries[lo : lo + chunk]
            sim = unit[q] @ unit[candidates].T
            sim[candidates[None, :] == q[:, None]] = -np.inf  # never its own neighbour
            top, values = _top_k(sim, k)
            index[q] = candidates[top]
            similarity[q] = values
    return index, similarity


def _recall(unit: np.ndarray, index: np.ndarray, *, k: int, seed: int) -> float:
    """Share of the exact ``k`` nearest neighbours that ``index`` holds, over a seeded sample of rows."""
    sample = np.random.default_rng(seed).choice(len(unit), size=min(RECALL_SAMPLE, len(unit)), replace=False)
    exact, _ = _chunked_top_k(unit, k=k, rows=sample)
    found = [len(np.intersect1d(exact[r], index[i])) for r, i in enumerate(sample)]
    return float(np.sum(found) / (len(sample) * k))
