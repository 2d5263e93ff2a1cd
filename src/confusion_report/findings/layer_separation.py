"""layer_separation: the depth at which a confused pair stops separating (from per-stage linear probes)."""

from __future__ import annotations

import numpy as np

from ..analyses.significance import strength
from ..results import Finding
from .inputs import FindingInputs
from .text import pct, pval

MIN_DROP = 0.05
MAX_P = 0.01
POOR = 0.7  # best probe accuracy at or below this: the pair never separates well
MIN_N = 40


def _drop_p(best: float, last: float, n: int) -> float:
    """One-sided two-proportion z-test that accuracy ``best`` exceeds ``last`` (each on n images)."""
    from scipy.stats import norm

    pooled = (best + last) / 2
    se = np.sqrt(max(pooled * (1 - pooled), 1e-12) * 2 / n)
    return float(norm.sf((best - last) / se))


def _poor_p(best: float, n: int) -> float:
    """Binomial-normal p that the best accuracy is still above chance (0.5): small = it is informative."""
    from scipy.stats import norm

    return float(norm.sf((best - 0.5) / np.sqrt(0.25 / n)))


def rule(inp: FindingInputs) -> Finding | None:
    """A pair that separates best at an intermediate stage and significantly worse at the last one;
    otherwise a pair that no stage separates well (best accuracy <= 0.7)."""
    drops, poor = [], []
    for s in inp.separability:
        if s.n < MIN_N or len(s.accuracies) < 2:
            continue
        acc = np.asarray(s.accuracies, dtype=np.float64)
        b = int(acc.argmax())
        if b < len(acc) - 1 and acc[b] - acc[-1] >= MIN_DROP:
            pv = _drop_p(acc[b], acc[-1], s.n)
            if pv <= MAX_P:
                drops.append((s, b, pv))
        if acc.max() <= POOR:
            poor.append((s, b))
    if drops:
        s, b, pv = min(drops, key=lambda t: t[2])
        after = s.stage_names[b + 1] if b + 1 < len(s.stage_names) else s.stage_names[-1]
        return Finding(
            kind="layer_separation",
            severity="medium",
            title=f"{s.true} vs {s.pred} stops separating after {s.stage_names[b]}",
            text=(
                f"A linear probe tells {s.true} from {s.pred} best at {s.stage_names[b]} ({pct(s.accuracies[b])}) "
                f"but only {pct(s.accuracies[-1])} at the last stage ({s.stage_names[-1]}; {s.n} images, "
                f"{pval(pv)}): the distinction is present at {s.stage_names[b]} and lost from {after} on. "
                "Fine-tuning the later stages on these classes may help."
            ),
            classes=(s.true, s.pred),
            evidence={
                "stage_best": s.stage_names[b],
                "stages": list(s.stage_names),
                "accuracies": list(s.accuracies),
                "drop": float(s.accuracies[b] - s.accuracies[-1]),
                "p_value": pv,
                "anchor": inp.anchor(s.true, s.pred),
                "section": "pairs",
                "strength": strength(pv),
            },
        )
    if poor:
        s, b = min(poor, key=lambda t: max(t[0].accuracies))
        return Finding(
            kind="layer_separation",
            severity="medium",
            title=f"{s.true} vs {s.pred} never separates well",
            text=(
                f"No stage separates {s.true} from {s.pred} well: the best linear probe reaches "
                f"{pct(s.accuracies[b])} at {s.stage_names[b]} (chance 50%, {s.n} images). The features at every "
                "depth mix them; the fix is more discriminative data or a stronger backbone."
            ),
            classes=(s.true, s.pred),
            evidence={
                "stage_best": s.stage_names[b],
                "stages": list(s.stage_names),
                "accuracies": list(s.accuracies),
                "p_value": _poor_p(s.accuracies[b], s.n),
                "anchor": inp.anchor(s.true, s.pred),
                "section": "pairs",
                "strength": 1.0,
            },
        )
    return None
