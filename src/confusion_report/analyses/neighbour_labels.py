"""Neighbour labels on embeddings: who an image's nearest neighbours are, and which labels they carry."""

from __future__ import annotations

import numpy as np


def normalise(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    e = np.asarray(emb, dtype=np.float32)
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def neighbour_index(emb: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows by cosine (the feature space's exact k-NN graph)."""
    from .knn import knn_graph

    return knn_graph(normalise(emb), k=k).index


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
