"""Cosine k-nearest neighbours on embeddings, in chunks (memory grows with N*k, not N*N)."""

from __future__ import annotations

import numpy as np


def normalise(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    e = np.asarray(emb, dtype=np.float32)
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def knn(emb: np.ndarray, k: int, *, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of each row's ``k`` nearest other rows, nearest first."""
    e = normalise(emb)
    n = len(e)
    k = min(k, n - 1)
    idx = np.zeros((n, max(k, 0)), dtype=np.int64)
    sim = np.zeros((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return idx, sim
    for start in range(0, n, chunk):
        s = e[start : start + chunk] @ e.T
        rows = np.arange(len(s))
        s[rows, start + rows] = -np.inf  # never your own neighbour
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[start : start + chunk] = np.take_along_axis(part, order, axis=1)
        sim[start : start + chunk] = np.take_along_axis(ps, order, axis=1)
    return idx, sim


def neighbour_label_distribution(idx: np.ndarray, labels: np.ndarray, n_classes: int, *, prior: float = 1.0):
    """Per image, the label distribution of its neighbours, smoothed towards the class frequencies.

    ``prior`` pseudo-counts follow the class frequencies, so an image with few informative neighbours
    is not pushed to 0 or 1.
    """
    n, k = idx.shape
    freq = np.bincount(labels, minlength=n_classes) / max(len(labels), 1)
    counts = np.zeros((n, n_classes))
    np.add.at(counts, (np.repeat(np.arange(n), k), labels[idx].ravel()), 1.0)
    return (counts + prior * freq) / (k + prior)
