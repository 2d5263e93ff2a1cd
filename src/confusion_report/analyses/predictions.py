"""The per-image prediction arrays every analysis starts from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Predictions:
    """Labels, predictions and probabilities of the decoded images, over the model's output names.

    ``labels`` and ``preds`` index ``names``; ``paths`` are relative to the data root.
    """

    names: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    logits: np.ndarray
    embeddings: np.ndarray | None = None

    @property
    def probs(self) -> np.ndarray:
        """Softmax of the logits (float64 for stable sums).

        Computed in place in one float64 array: at 50,000 images x 1,000 classes each temporary is
        400 MB, and three of them were the build's peak memory.
        """
        z = self.logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    @property
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
