"""Accuracy, top-5 and per-class precision/recall/F1/support (equal to scikit-learn's on the same data)."""

from __future__ import annotations

import numpy as np

from ..results import ClassMetrics, Metrics
from .predictions import Predictions


def confusion_counts(labels: np.ndarray, preds: np.ndarray, n: int) -> np.ndarray:
    """Rows = true, columns = predicted, over ``n`` classes."""
    return np.bincount(labels * n + preds, minlength=n * n).reshape(n, n)


def compute_metrics(p: Predictions) -> Metrics:
    """Headline and per-class metrics over ``p.label_set`` (scikit-learn's default labels)."""
    n = len(p.names)
    preds = p.preds
    counts = confusion_counts(p.labels, preds, n)
    tp = np.diag(counts).astype(np.float64)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    labels = p.label_set
    per_class = tuple(
        ClassMetrics(
            name=p.names[i],
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
            support=int(support[i]),
            predicted=int(predicted[i]),
        )
        for i in labels
    )
    present = labels[support[labels] > 0]
    top5 = None
    if p.logits.shape[1] > 5:
        top = np.argpartition(-p.logits, 5, axis=1)[:, :5]
        top5 = float((top == p.labels[:, None]).any(axis=1).mean())
    return Metrics(
        accuracy=float(tp.sum() / len(p.labels)),
        balanced_accuracy=float(recall[present].mean()),
        macro_f1=float(f1[labels].mean()),
        n_errors=int(len(p.labels) - tp.sum()),
        per_class=per_class,
        top5=top5,
    )
