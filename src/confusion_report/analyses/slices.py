"""Errors concentrated in a slice of an image property (dark images of one class, blurry ones, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..results import Pair, PropertySlice
from .image_stats import ImageStats
from .predictions import Predictions
from .significance import bh_qvalues, fisher_greater

EXAMPLES = 8


class SliceTest(NamedTuple):
    """One Fisher test: class ``a`` (or pair ``a -> b``), a slice of one property, its counts and p-value."""

    a: int
    b: int | None
    prop: str
    direction: str
    threshold: float
    n_in: int
    errors_in: int
    n_out: int
    errors_out: int
    lift: float
    p_value: float
    wrong: np.ndarray  # indices of the errors inside the slice


def _tests_for(
    values: dict[str, np.ndarray], gray: np.ndarray, members: np.ndarray, err: np.ndarray
) -> list[tuple[str, str, float, np.ndarray]]:
    """The (property, direction, threshold, in-slice mask) candidates over one class's images."""
    out = []
    n = len(members)
    for prop, v_all in values.items():
        v = v_all[members]
        if not np.all(np.isfinite(v)) or len(np.unique(v)) < 3:
            continue
        lo, hi = np.quantile(v, [1 / 3, 2 / 3])
        for direction, mask, thr in (("low", v <= lo, lo), ("high", v >= hi, hi)):
            # Ties can swallow a tercile (e.g. most images of one size): a slice must be a real minority.
            if 0.1 * n <= mask.sum() <= 0.5 * n:
                out.append((prop, direction, float(thr), mask))
    g = gray[members]
    if 0 < g.sum() < n:
        out.append(("grayscale", "yes", 1.0, g))
    return out


def find_slices(
    p: Predictions,
    stats: ImageStats,
    pairs: Sequence[Pair],
    *,
    top_pairs: int = 10,
    min_support: int = 30,
    min_errors: int = 5,
    min_lift: float = 1.5,
    max_q: float = 0.01,
) -> tuple[PropertySlice, ...]:
    """Slices (low/high within-class tercile of each property, or grayscale) where errors concentrate.

    For each class with ``min_support`` images, and for each of the ``top_pairs`` first directed pairs,
    a one-sided Fisher exact test compares the error rate inside the slice with the rest of the class
    (for a pair, "error" means predicted as that pair's class). All tests share one Benjamini-Hochberg
    correction; a slice is kept with ``q <= max_q``, ``lift >= min_lift`` and ``min_errors`` errors
    inside. One result per class or pair (its strongest property); the other significant properties of
    the same group are listed in ``also`` (properties are correlated: dark images are also low-contrast).
    """
    preds = p.preds
    probs = p.probs
    values = stats.continuous()
    groups: list[tuple[int, int | None]] = [(c, None) for c in range(len(p.names))]
    groups += [(p.names.index(pr.true), p.names.index(pr.pred)) for pr in pairs[:top_pairs]]
    rows = []
    for a, b in groups:
        members = np.flatnonzero(p.labels == a)
        if len(members) < min_support:
            continue
        err = (preds[members] != a) if b is None else (preds[members] == b)
        if err.sum() < min_errors:
            continue
        for prop, direction, thr, mask in _tests_for(values, stats.grayscale, members, err):
            e_in, n_in = int(err[mask].sum()), int(mask.sum())
            e_out, n_out = int(err[~mask].sum()), int((~mask).sum())
            pv = fisher_greater(e_in, n_in - e_in, e_out, n_out - e_out)
            rate_in, rate_out = e_in / n_in, e_out / max(n_out, 1)
            lift = rate_in / rate_out if rate_out > 0 else float("inf")
            rows.append(SliceTest(a, b, prop, direction, thr, n_in, e_in, n_out, e_out, lift, pv, members[mask & err]))
    if not rows:
        return ()
    q = bh_qvalues([r.p_value for r in rows])
    kept: dict[tuple[int, int | None], list[tuple[SliceTest, float]]] = {}
    for r, qv in zip(rows, q, strict=True):
        if qv <= max_q and r.lift >= min_lift and r.errors_in >= min_errors:
            kept.setdefault((r.a, r.b), []).append((r, float(qv)))
    out = []
    for (a, b), items in kept.items():
        items.sort(key=lambda item: item[0].p_value)
        best, best_q = items[0]
        wrong = best.wrong
        conf = probs[wrong, preds[wrong]]
        examples = tuple(p.paths[i] for i in wrong[np.argsort(-conf, kind="stable")][:EXAMPLES])
        out.append(
            PropertySlice(
                true=p.names[a],
                pred=None if b is None else p.names[b],
                prop=best.prop,
                direction=best.direction,
                threshold=best.threshold,
                n_slice=best.n_in,
                errors_slice=best.errors_in,
                n_rest=best.n_out,
                errors_rest=best.errors_out,
                lift=float(best.lift),
                p_value=float(best.p_value),
                q_value=best_q,
                examples=examples,
                also=tuple(dict.fromkeys(f"{r.prop} {r.direction}" for r, _ in items[1:] if r.prop != best.prop)),
            )
        )
    out.sort(key=lambda s: (s.p_value, s.true, s.pred or ""))
    return tuple(out)
