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
    """The largest cluster of >= 3 classes whose internal errors far exceed what independent errors give.

    Expected share under independence: errors leave a true class and land on a predicted class
    independently, so an ordered pair (i, j) gets ``out_i * in_j / E^2`` of the E errors (self-pairs
    removed and renormalised). A one-sided binomial test on the cluster's internal errors.
    """
    counts = np.asarray(inp.confusion.counts, dtype=np.float64)
    off = counts.copy()
    np.fill_diagonal(off, 0.0)
    total = off.sum()
    if total < MIN_ERRORS:
        return None
    out_e, in_e = off.sum(axis=1), off.sum(axis=0)
    indep = np.outer(out_e, in_e)
    np.fill_diagonal(indep, 0.0)
    indep /= indep.sum()
    names = list(inp.confusion.classes)
    best = None
    for cl in inp.clusters:
        if len(cl.classes) < MIN_CLASSES:
            continue
        idx = [names.index(c) for c in cl.classes]
        inner = int(off[np.ix_(idx, idx)].sum())
        expected = float(indep[np.ix_(idx, idx)].sum())
        share = inner / total
        if inner < MIN_ERRORS or share < MIN_SHARE or share <= expected:
            continue
        pv = binom_greater(inner, int(total), expected)
        if pv > MAX_P:
            continue
        if best is None or pv < best[3]:
            best = (cl, inner, expected, pv, share)
    if best is None:
        return None
    cl, inner, expected, pv, share = best
    inside = [p for p in inp.pairs if p.true in cl.classes and p.pred in cl.classes]
    examples = tuple(e for p in inside[:4] for e in p.examples[:3])
    return Finding(
        kind="confusion_cluster",
        severity="high" if share >= 0.3 else "medium",
        title=f"{and_join(list(cl.classes))} are confused among themselves",
        text=(
            f"{inner} errors ({pct(share)} of all errors) stay inside the group {and_join(list(cl.classes))}, "
            f"{times(share / max(expected, 1e-9))} what independent errors would put there "
            f"({pct(expected)}; binomial {pval(pv)}). Fixing them together (more or clearer examples of each, "
            "or merging labels if they are genuinely ambiguous) addresses the largest block of errors."
        ),
        classes=tuple(cl.classes),
        evidence={
            "errors": inner,
            "error_share": share,
            "expected_share": expected,
            "p_value": pv,
            "pairs": [f"{p.true}->{p.pred}" for p in inside[:6]],
            "anchor": inside[0].anchor if inside else None,
            "section": "confusion",
            "strength": strength(pv),
        },
        examples=examples,
    )
