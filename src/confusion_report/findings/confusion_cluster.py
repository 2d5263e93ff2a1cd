"""confusion_cluster: three or more classes that trade errors mostly among themselves."""

from __future__ import annotations

import numpy as np

from ..analyses.significance import binom_greater, strength
from ..results import Finding
from .inputs import FindingInputs
from .text import and_join, pct, pval, times

MIN_CLASSES = 3
MIN_ERRORS = 10
MIN_SHARE = 0.15
MAX_P = 0.001


def rule(inp: FindingInputs) -> Finding | None:
    """The strongest cluster of >= 3 classes whose errors stay among themselves far more than chance.

    Null: an error of a member lands on any of the other n - 1 classes alike, so a share
    ``(k - 1) / (n - 1)`` of the members' errors would stay inside a k-class cluster. One-sided binomial
    test on the members' errors; the cluster must also hold >= 15% of all errors.
    """
    counts = np.asarray(inp.confusion.counts, dtype=np.float64)
    off = counts.copy()
    np.fill_diagonal(off, 0.0)
    total = off.sum()
    if total < MIN_ERRORS:
        return None
    n_classes = len(counts)
    names = list(inp.confusion.classes)
    best = None
    for cl in inp.clusters:
        if len(cl.classes) < MIN_CLASSES:
            continue
        idx = [names.index(c) for c in cl.classes]
        inner = int(off[np.ix_(idx, idx)].sum())
        leaving = int(off[idx].sum())
        expected = (len(idx) - 1) / (n_classes - 1)
        share = inner / total
        if inner < MIN_ERRORS or share < MIN_SHARE or inner / leaving <= expected:
            continue
        pv = binom_greater(inner, leaving, expected)
        if pv > MAX_P:
            continue
        if best is None or pv < best[3]:
            best = (cl, inner, expected, pv, share, inner / leaving)
    if best is None:
        return None
    cl, inner, expected, pv, share, kept = best
    inside = [p for p in inp.pairs if p.true in cl.classes and p.pred in cl.classes]
    examples = tuple(e for p in inside[:4] for e in p.examples[:3])
    return Finding(
        kind="confusion_cluster",
        severity="high" if share >= 0.3 else "medium",
        title=f"{and_join(list(cl.classes))} are confused among themselves",
        text=(
            f"{inner} errors ({pct(share)} of all errors) stay inside the group {and_join(list(cl.classes))}: "
            f"{pct(kept)} of these classes' errors land on another member, {times(kept / expected)} the "
            f"{pct(expected)} expected if their errors spread evenly over all classes (binomial {pval(pv)}). "
            "Fixing them together (more or clearer examples of each, or merging labels if they are genuinely "
            "ambiguous) addresses this block of errors."
        ),
        classes=tuple(cl.classes),
        evidence={
            "errors": inner,
            "error_share": share,
            "share_kept_inside": kept,
            "expected_kept_inside": expected,
            "p_value": pv,
            "pairs": [f"{p.true}->{p.pred}" for p in inside[:6]],
            "anchor": inside[0].anchor if inside else None,
            "section": "confusion",
            "strength": strength(pv),
        },
        examples=examples,
    )
