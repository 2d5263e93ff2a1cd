"""The per-image predictions CSV (``--predictions``): one row per file, skipped files included."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from .analyses.predictions import Predictions, softmax_stats
from .results import SkippedFile

# Beyond this many classes a probability column per class would make the file unwieldy.
MAX_PROB_COLUMNS = 50


def predictions_csv(p: Predictions, skipped: Sequence[SkippedFile] = ()) -> str:
    """CSV text: path, label, pred, correct, confidence, true_prob, margin, second guess, per-class probs."""
    probs = p.probs
    preds = p.preds
    confidence, true_prob, margin = softmax_stats(probs, p.labels)
    second = np.argsort(-probs, axis=1)[:, 1] if probs.shape[1] > 1 else preds
    with_probs = len(p.names) <= MAX_PROB_COLUMNS
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [
        "path",
        "label",
        "pred",
        "correct",
        "confidence",
        "true_prob",
        "margin",
        "second",
        "second_prob",
        "skipped",
    ]
    if with_probs:
        header += [f"p_{name}" for name in p.names]
    writer.writerow(header)
    for i, path in enumerate(p.paths):
        row = [
            path,
            p.names[p.labels[i]],
            p.names[preds[i]],
            int(preds[i] == p.labels[i]),
            f"{confidence[i]:.6f}",
            f"{true_prob[i]:.6f}",
            f"{margin[i]:.6f}",
            p.names[second[i]],
            f"{probs[i, second[i]]:.6f}",
            "",
        ]
        if with_probs:
            row += [f"{v:.6f}" for v in probs[i]]
        writer.writerow(row)
    for s in skipped:
        writer.writerow(
            [s.path, "", "", "", "", "", "", "", "", s.reason] + ([""] * len(p.names) if with_probs else [])
        )
    return buf.getvalue()
