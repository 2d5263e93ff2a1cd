"""Ranked confused pairs: A -> B with count, rate and the most confident errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results import Pair
from ..text import unique_slugs
from .predictions import Predictions

EXAMPLES_PER_PAIR = 12


def rank_pairs(p: Predictions, *, focus: Sequence[str] = ()) -> tuple[Pair, ...]:
    """Every directed pair with at least one error, most errors first (ties: higher rate, then names).

    With ``focus``, only pairs whose true or predicted class is a focus class are kept.
    """
    preds = p.preds
    probs = p.probs
    n = len(p.names)
    wrong = np.flatnonzero(preds != p.labels)
    total_errors = max(len(wrong), 1)
    support = np.bincount(p.labels, minlength=n)
    counts = np.bincount(p.labels[wrong] * n + preds[wrong], minlength=n * n).reshape(n, n)
    focus_idx = {p.names.index(c) for c in focus if c in p.names}
    rows = []
    for a, b in zip(*np.nonzero(counts), strict=True):
        if focus_idx and a not in focus_idx and b not in focus_idx:
            continue
        members = wrong[(p.labels[wrong] == a) & (preds[wrong] == b)]
        conf = probs[members, b]
        order = members[np.argsort(-conf, kind="stable")][:EXAMPLES_PER_PAIR]
        rows.append((int(a), int(b), int(counts[a, b]), float(conf.mean()), order))
    rows.sort(key=lambda r: (-r[2], -r[2] / support[r[0]], p.names[r[0]], p.names[r[1]]))
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
