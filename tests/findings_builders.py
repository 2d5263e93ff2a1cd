"""Synthetic predictions with one planted cause each, for the finding rules (numpy only, fast)."""

from __future__ import annotations

import numpy as np

from confusion_report.analyses.clusters import find_clusters
from confusion_report.analyses.confusion import compute_confusion
from confusion_report.analyses.image_stats import ImageStats
from confusion_report.analyses.metrics import compute_metrics
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions
from confusion_report.findings import FindingInputs


def gaussian_world(
    *,
    n_classes: int = 5,
    per_class: int = 300,
    dim: int = 16,
    separation: float = 4.0,
    noise: float = 1.0,
    seed: int = 0,
):
    """Equidistant class-conditional Gaussians: embeddings and a *calibrated* model's logits.

    The logits are the exact Bayes log-posteriors of the true generative model, so the model is
    calibrated, its errors are symmetric and borderline: a clean control.
    """
    rng = np.random.default_rng(seed)
    # Equidistant centres (scaled one-hot directions, then a random rotation): no pair is closer than another.
    rotation, _ = np.linalg.qr(rng.normal(0, 1, (dim, dim)))
    centres = np.eye(n_classes, dim) * separation / np.sqrt(2) @ rotation
    labels = np.repeat(np.arange(n_classes), per_class)
    x = centres[labels] + rng.normal(0, noise, (len(labels), dim))
    logits = -((x[:, None, :] - centres[None]) ** 2).sum(axis=2) / (2 * noise**2)
    return x, logits, labels, centres


def predictions(logits, labels, embeddings=None, names=None) -> Predictions:
    """A Predictions object with synthetic paths ``class/i.png``."""
    names = names or tuple(f"c{k}" for k in range(logits.shape[1]))
    paths = tuple(f"{names[y]}/{i:05d}.png" for i, y in enumerate(labels))
    return Predictions(tuple(names), paths, np.asarray(labels), np.asarray(logits, np.float32), embeddings)


def random_stats(n: int, *, seed: int = 1) -> ImageStats:
    """Image properties unrelated to anything (the clean control)."""
    rng = np.random.default_rng(seed)
    return ImageStats(
        brightness=rng.uniform(0.2, 0.8, n),
        contrast=rng.uniform(0.1, 0.3, n),
        saturation=rng.uniform(0.1, 0.6, n),
        sharpness=rng.uniform(0.001, 0.05, n),
        grayscale=np.zeros(n, bool),
        width=np.full(n, 32.0),
        height=np.full(n, 32.0),
    )


def inputs_for(p: Predictions, **extra) -> FindingInputs:
    """Run the core analyses and wrap everything for the rules."""
    confusion = compute_confusion(p)
    return FindingInputs(
        classes=p.names,
        confusion=confusion,
        pairs=rank_pairs(p),
        clusters=find_clusters(confusion),
        metrics=compute_metrics(p),
        predictions=p,
        n_images=len(p.labels),
        **extra,
    )
