"""The per-image predictions CSV (``--predictions``): one row per file, skipped files included."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from .analyses.predictions import Predictions, softmax_stats
from .results import LabelIssues, LabelSuspect, SkippedFile

# Beyond this many classes a probability column per class would make the file unwieldy.
MAX_PROB_COLUMNS = 50


def predictions_csv(
    p: Predictions, skipped: Sequence[SkippedFile] = (), *, label_issues: LabelIssues | None = None
) -> str:
    """CSV text: path, label, pred, correct, confidence, true_prob, margin, second guess, the suspected
    label error's rank, score and suggested class (empty when not flagged), per-class probs.

    ``label_issue_rank`` is 1 for the most suspicious image, so sorting by it walks the whole ranked list.
    """
    suspects = {s.path: s for s in label_issues.suspects} if label_issues is not None else {}
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
        "label_issue_rank",
        "label_issue_score",
        "label_issue_suggested",
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
            *(_suspect_cells(suspects[path]) if path in suspects else ("", "", "")),
            "",
        ]
        if with_probs:
            row += [f"{v:.6f}" for v in probs[i]]
        writer.writerow(row)
    for s in skipped:
        writer.writerow(
            [s.path, "", "", "", "", "", "", "", "", "", "", "", s.reason] + ([""] * len(p.names) if with_probs else [])
        )
    return buf.getvalue()


def _suspect_cells(s: LabelSuspect) -> tuple[str, str, str]:
    """The rank, score and suggested class of a flagged image, as CSV cells."""
    return str(s.rank), f"{s.score:.6f}", s.suggested
