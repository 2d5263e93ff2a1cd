"""prediction_bias: a class predicted far more often than it occurs."""

from __future__ import annotations

from ..analyses.significance import bh_qvalues, binom_greater, strength
from ..results import Finding
from .inputs import FindingInputs
from .text import pval, times

MIN_RATIO = 1.25
MIN_FALSE_POSITIVES = 10
MAX_Q = 0.01


def rule(inp: FindingInputs) -> Finding | None:
    """The class predicted >= 1.25x its support whose gained errors (FP) significantly outnumber lost ones (FN).

    Binomial test of FP among FP + FN against 1/2 (a class that merely has errors loses as many as it
    gains), Benjamini-Hochberg over classes.
    """
    cands = []
    for c in inp.metrics.per_class:
        if c.support == 0:
            continue
        tp = round(c.recall * c.support)
        fp, fn = c.predicted - tp, c.support - tp
        ratio = c.predicted / c.support
        if fp < MIN_FALSE_POSITIVES:
            continue
        cands.append((c, fp, fn, ratio, binom_greater(fp, fp + fn, 0.5)))
    if not cands:
        return None
    q = bh_qvalues([x[4] for x in cands])
    ok = [(x, qv) for x, qv in zip(cands, q, strict=True) if qv <= MAX_Q and x[3] >= MIN_RATIO]
    if not ok:
        return None
    (c, fp, fn, ratio, pv), qv = min(ok, key=lambda t: t[0][4])
    sources = [p for p in inp.pairs if p.pred == c.name][:3]
    src = ", ".join(f"{p.true} ({p.count})" for p in sources)
    return Finding(
        kind="prediction_bias",
        severity="high" if ratio >= 1.5 else "medium",
        title=f"{c.name} is over-predicted",
        text=(
            f"{c.name} is predicted {c.predicted} times for {c.support} {c.name} images ({times(ratio)}): it takes "
            f"{fp} images of other classes (most from {src}) while losing {fn} of its own (binomial {pval(pv)}). "
            f"Consistent with a decision boundary or class prior that favours {c.name}."
        ),
        classes=(c.name,),
        evidence={
            "predicted": c.predicted,
            "support": c.support,
            "ratio": ratio,
            "false_positives": fp,
            "false_negatives": fn,
            "p_value": pv,
            "q_value": float(qv),
            "anchor": sources[0].anchor if sources else None,
            "section": "classes",
            "strength": strength(pv),
        },
        examples=tuple(e for p in sources for e in p.examples[:3]),
    )
