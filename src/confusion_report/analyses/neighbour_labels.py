"""Neighbour labels on embeddings: who an image's nearest neighbours are, and which labels they carry."""

from __future__ import annotations

import numpy as np

from .knn import knn_graph, normalise


def neighbour_index(emb: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows (the feature space's geometry: centred cosine)."""
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
