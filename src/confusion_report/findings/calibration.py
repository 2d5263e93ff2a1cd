"""calibration: predictions of the confused classes are over-confident."""

from __future__ import annotations

from ..analyses.significance import bh_qvalues, strength
from ..results import Finding
from .inputs import FindingInputs
from .text import and_join, pct, pval

MIN_PREDICTED = 30
MIN_GAP = 0.05
MAX_Q = 0.01
TOP_PAIRS = 5


def rule(inp: FindingInputs) -> Finding | None:
    """Classes of the top confused pairs whose predictions are right less often than their confidence says.

    Per predicted class, a one-sided test (normal approximation to the Poisson-binomial number of
    correct predictions), Benjamini-Hochberg over classes; fires with gap >= 5 points and q <= 0.01.
    """
    cal = inp.calibration
    if cal is None:
        return None
    confused = {c for p in inp.pairs[:TOP_PAIRS] for c in (p.true, p.pred)}
    cands = [c for c in cal.per_class if c.n_predicted >= MIN_PREDICTED]
    if not cands:
        return None
    q = bh_qvalues([c.p_value for c in cands])
    sig = [(c, qv) for c, qv in zip(cands, q, strict=True) if qv <= MAX_Q and c.gap >= MIN_GAP]
    hits = [(c, qv) for c, qv in sig if c.name in confused]
    if not hits:
        return None
    hits.sort(key=lambda t: t[0].p_value)
    c, qv = hits[0]
    names = [h[0].name for h in hits]
    return Finding(
        kind="calibration",
        severity="medium",
        title=f"Over-confident on {and_join(names[:3])}",
        text=(
            f"Images predicted as {c.name} carry a mean confidence of {pct(c.mean_confidence)} but are right "
            f"{pct(c.accuracy)} of the time ({c.n_predicted} predictions; gap {100 * c.gap:.0f} points, "
            f"class ECE {c.ece:.3f}, {pval(c.p_value)}). "
            + (f"Also over-confident among the confused classes: {and_join(names[1:4])}. " if len(names) > 1 else "")
            + f"Overall ECE {cal.ece:.3f}. Do not read these classes' confidence as a probability without "
            "recalibration (e.g. temperature scaling)."
        ),
        classes=tuple(names[:4]),
        evidence={
            "ece": cal.ece,
            "class": c.name,
            "class_ece": c.ece,
            "mean_confidence": c.mean_confidence,
            "accuracy": c.accuracy,
            "gap": c.gap,
            "p_value": c.p_value,
            "q_value": float(qv),
            "classes_overconfident": names,
            "section": "calibration",
            "strength": strength(c.p_value),
        },
    )
