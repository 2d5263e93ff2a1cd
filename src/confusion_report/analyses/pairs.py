"""Ranked confused pairs: A -> B with count, rate and the most confident errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results import Pair
from ..text import unique_slugs
from .predictions import Predictions

EXAMPLES_PER_PAIR = 12


def rank_score(counts: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Each cell's error rate shrunk toward zero by a typical class's size: ``count / (support + m)``.

    ``m`` is the median support of the classes with images. Ranking by the plain rate would put a
    single error in a one-image class (rate 100%) on top; by count alone, a big class's 2% beats a
    small class that is half lost. The shrunk rate is a compromise with a known bias: with equal
    supports it orders exactly as the counts do, and one error in a tiny class scores about 1/m.
    """
    present = support[support > 0]
    m = float(np.median(present)) if len(present) else 1.0
    return counts / (support[:, None] + m)


def rank_pairs(p: Predictions, *, focus: Sequence[str] = ()) -> tuple[Pair, ...]:
    """Every directed pair with at least one error, highest :func:`rank_score` first (ties: more
    errors, higher rate, then names).

    With ``focus``, only pairs whose true or predicted class is a focus class are kept.
    """
    preds = p.preds
    n = len(p.names)
    wrong = np.flatnonzero(preds != p.labels)
    total_errors = max(len(wrong), 1)
    support = np.bincount(p.labels, minlength=n)
    cell = p.labels[wrong] * n + preds[wrong]
    counts = np.bincount(cell, minlength=n * n).reshape(n, n)
    score = rank_score(counts, support)
    # The errors grouped by cell once (one sort), not one scan of all errors per pair: at 1,000
    # classes there are tens of thousands of pairs.
    by_cell = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[by_cell], np.arange(n * n + 1))
    # Only the probabilities of the errors' predicted classes are needed (softmax row by row).
    logits = p.logits[wrong].astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    err_conf = np.exp(logits[np.arange(len(wrong)), preds[wrong]]) / np.exp(logits).sum(axis=1)
    focus_idx = {p.names.index(c) for c in focus if c in p.names}
    rows = []
    for a, b in zip(*np.nonzero(counts), strict=True):
        if focus_idx and a not in focus_idx and b not in focus_idx:
            continue
        k = a * n + b
        positions = by_cell[starts[k] : starts[k + 1]]
        conf = err_conf[positions]
        order = wrong[positions[np.argsort(-conf, kind="stable")][:EXAMPLES_PER_PAIR]]
        rows.append((int(a), int(b), int(counts[a, b]), float(conf.mean()), order))
    rows.sort(key=lambda r: (-score[r[0], r[1]], -r[2], -r[2] / support[r[0]], p.names[r[0]], p.names[r[1]]))
    anchors = unique_slugs([f"{p.names[a]}-{p.names[b]}" for a, b, *_ in rows], prefix="pair")
    return tuple(
        Pair(
            true=p.names[a],
            pred=p.names[b],
            count=count,
            rate=count / support[a],
            error_share=count / total_errors,
            reverse_count=int(counts[b, a]),
            mean_confidence=mean_conf,
            anchor=anchor,
            examples=tuple(p.paths[i] for i in order),
        )
        for (a, b, count, mean_conf, order), anchor in zip(rows, anchors, strict=True)
    )
