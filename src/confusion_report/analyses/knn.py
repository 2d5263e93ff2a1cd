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


@dataclass(frozen=True, eq=False)
class KnnGraph:
    """For each image its ``k`` nearest other images (``index``) and their cosine similarities, best first."""

    index: np.ndarray
    similarity: np.ndarray

    @property
    def k(self) -> int:
        return self.index.shape[1]


def knn_graph(unit: np.ndarray, *, k: int) -> KnnGraph:
    """Exact k nearest neighbours by cosine of unit-length rows, excluding the image itself.

    scikit-learn's brute-force search works through the distance matrix in memory-bounded chunks, so
    50k images never hold an N x N array.
    """
    from sklearn.neighbors import NearestNeighbors

    n = len(unit)
    k = max(0, min(k, n - 1))
    if k == 0:
        return KnnGraph(np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=np.float32))
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="euclidean").fit(unit)
    dist, idx = nn.kneighbors(unit)
    # Drop the image itself; with exact copies it need not come first, so remove it by value.
    is_self = idx == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    idx = idx[keep].reshape(n, k)
    dist = dist[keep].reshape(n, k)
    sim = (1.0 - dist.astype(np.float64) ** 2 / 2.0).astype(np.float32)
    return KnnGraph(idx.astype(np.int64), sim)
