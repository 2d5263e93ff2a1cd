"""asymmetric_pair: A -> B far more often than B -> A (relative to the classes' sizes)."""

from __future__ import annotations

import numpy as np

from ..analyses.significance import bh_qvalues, binom_greater, strength
from ..results import Finding
from .inputs import FindingInputs
from .text import pct, pval, times

MIN_ERRORS = 10
MIN_RATIO = 3.0
MAX_Q = 0.001


def rule(inp: FindingInputs) -> Finding | None:
    """The strongest pair whose rate A -> B is >= 3x the rate B -> A, binomial test with BH over pairs
    (q <= 0.001).

    Under symmetric *rates*, of the n errors between A and B a share ``s_A / (s_A + s_B)`` would be
    A -> B (s = support); the test asks whether A -> B exceeds that.
    """
    names = list(inp.confusion.classes)
    counts = np.asarray(inp.confusion.counts, dtype=np.float64)
    support = counts.sum(axis=1)
    cands = []
    for p in inp.pairs:
        if p.count < MIN_ERRORS:
            continue
        a, b = names.index(p.true), names.index(p.pred)
        if support[a] == 0 or support[b] == 0:
            continue
        rate_ab, rate_ba = p.count / support[a], p.reverse_count / support[b]
        ratio = rate_ab / rate_ba if rate_ba > 0 else float("inf")
        p0 = support[a] / (support[a] + support[b])
        cands.append((p, rate_ab, rate_ba, ratio, binom_greater(p.count, p.count + p.reverse_count, p0)))
    if not cands:
        return None
    q = bh_qvalues([c[4] for c in cands])
    ok = [(c, qv) for c, qv in zip(cands, q, strict=True) if qv <= MAX_Q and c[3] >= MIN_RATIO]
    if not ok:
        return None
    (p, rab, rba, ratio, pv), qv = min(ok, key=lambda t: t[0][4])
    return Finding(
        kind="asymmetric_pair",
        severity="medium",
        title=f"{p.true} → {p.pred} is one-sided",
        text=(
            f"{p.count} {p.true} images are predicted as {p.pred} ({pct(rab, 1)} of {p.true}), but only "
            f"{p.reverse_count} {p.pred} images as {p.true} ({pct(rba, 1)}): {times(ratio)} (binomial {pval(pv)}, "
            f"q = {qv:.2g}). When unsure between the two, the model leans towards {p.pred}."
        ),
        classes=(p.true, p.pred),
        evidence={
            "count": p.count,
            "reverse_count": p.reverse_count,
            "rate": rab,
            "reverse_rate": rba,
            "ratio": ratio,
            "p_value": pv,
            "q_value": float(qv),
            "anchor": p.anchor,
            "section": "pairs",
            "strength": strength(pv),
        },
        examples=p.examples[:8],
    )
