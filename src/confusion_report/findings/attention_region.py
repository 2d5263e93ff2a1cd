"""attention_region: the errors of a pair look at a region that correct predictions do not."""

from __future__ import annotations

import numpy as np

from ..analyses.significance import bh_qvalues, strength
from ..results import GRID_NAMES, Finding
from .inputs import FindingInputs, PairAttentionInput
from .text import pct, pval, times

MIN_ERRORS = 5
MIN_CORRECT = 10
MIN_RATIO = 1.5
MIN_CELL_SHARE = 0.2  # a uniform map puts 1/9 = 0.11 in each cell
MAX_Q = 0.01


def _tests(a: PairAttentionInput) -> list[tuple[str, float, float, float]]:
    """(region, mean share in errors, mean share in correct, one-sided Mann-Whitney p) per region."""
    from scipy.stats import mannwhitneyu

    out = []
    err, cor = np.asarray(a.error_cells, dtype=np.float64), np.asarray(a.correct_cells, dtype=np.float64)
    regions = [(GRID_NAMES[c], err[:, c], cor[:, c]) for c in range(9)]
    if len(a.error_border) and len(a.correct_border):
        regions.append(("border", np.asarray(a.error_border, float), np.asarray(a.correct_border, float)))
    for name, e, c in regions:
        if np.ptp(np.concatenate([e, c])) == 0:
            continue
        pv = float(mannwhitneyu(e, c, alternative="greater").pvalue)
        out.append((name, float(e.mean()), float(c.mean()), pv))
    return out


def rule(inp: FindingInputs) -> Finding | None:
    """The region where a pair's errors put much more attention than correct predictions (BH over all tests)."""
    rows = []
    for a in inp.attention:
        if len(a.error_cells) < MIN_ERRORS or len(a.correct_cells) < MIN_CORRECT:
            continue
        rows += [(a, *t) for t in _tests(a)]
    if not rows:
        return None
    q = bh_qvalues([r[4] for r in rows])
    ok = []
    for r, qv in zip(rows, q, strict=True):
        a, region, me, mc, pv = r
        floor = MIN_CELL_SHARE if region != "border" else 0.0
        if qv <= MAX_Q and me >= MIN_RATIO * mc and me >= floor:
            ok.append((r, qv))
    if not ok:
        return None
    (a, region, me, mc, pv), qv = min(ok, key=lambda t: t[0][4])
    where = (
        "the image border"
        if region == "border"
        else ("the centre" if region == "center" else f"the {region} {'corner' if '-' in region else 'edge'}")
    )
    return Finding(
        kind="attention_region",
        severity="high",
        title=f"{a.true} → {a.pred}: attention on {where}",
        text=(
            f"When {a.true} images are predicted as {a.pred}, {pct(me)} of the model's attention falls on {where}, "
            f"against {pct(mc)} for correct {a.true} and {a.pred} predictions ({times(me / max(mc, 1e-9))}; "
            f"Mann-Whitney {pval(pv)}, q = {qv:.2g}; {len(a.error_cells)} errors, {len(a.correct_cells)} correct). "
            f"Consistent with a spurious cue in {where}: look there in the example images."
        ),
        classes=(a.true, a.pred),
        evidence={
            "region": region,
            "error_share": me,
            "correct_share": mc,
            "ratio": me / max(mc, 1e-9),
            "n_errors": len(a.error_cells),
            "n_correct": len(a.correct_cells),
            "p_value": pv,
            "q_value": float(qv),
            "anchor": inp.anchor(a.true, a.pred),
            "section": "galleries",
            "strength": strength(pv),
        },
        examples=a.examples[:8],
    )
