"""The per-image prediction arrays every analysis starts from."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Predictions:
    """Labels, predictions and probabilities of the decoded images, over the model's output names.

    ``labels`` and ``preds`` index ``names``; ``paths`` are relative to the data root. ``probs`` and
    ``preds`` are computed once, on first use, and shared by every analysis.
    """

    names: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    logits: np.ndarray
    embeddings: np.ndarray | None = None

    @cached_property
    def probs(self) -> np.ndarray:
        """Softmax of the logits as float32, computed once: each float64 copy of an N x C array would cost
        800 MB at 100,000 images x 1,000 classes. Sums that need precision accumulate in float64."""
        return softmax(self.logits)

    @cached_property
    def preds(self) -> np.ndarray:
        """Arg-max class index per image."""
        return self.logits.argmax(axis=1)

    @property
    def label_set(self) -> np.ndarray:
        """Class indices that occur as a label or a prediction (scikit-learn's default label set)."""
        return np.union1d(np.unique(self.labels), np.unique(self.preds))


def softmax_stats(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: confidence of the prediction, probability of the true class, top-1 minus top-2 margin."""
    part = np.partition(probs, -2, axis=1)
    confidence = part[:, -1]
    margin = part[:, -1] - part[:, -2] if probs.shape[1] > 1 else confidence
    true_prob = probs[np.arange(len(labels)), labels]
    return confidence, true_prob, margin


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax as float32 (the row sums accumulate in float64)."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    e /= e.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    return e
