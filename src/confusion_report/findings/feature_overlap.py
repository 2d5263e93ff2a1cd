"""feature_overlap: the two classes of a confused pair mix in the model's feature space."""

from __future__ import annotations

import math

from ..results import Finding
from .inputs import FindingInputs
from .text import pct, times

MIN_MIXING = 0.2  # a fifth of the neighbours from the other class
MIN_RATIO = 3.0  # ... and three times the median pair
MAX_SILHOUETTE = 0.1
MIN_IMAGES = 40


def rule(inp: FindingInputs) -> Finding | None:
    """The pair with the most neighbour mixing, if it is high in absolute terms and against other pairs.

    Neighbour mixing over thousands of neighbour slots is a stable description rather than a noisy
    estimate, so the rule uses effect sizes (mixing >= 0.2 and >= 3x the median pair, silhouette
    <= 0.1) and a minimum number of images instead of a p-value.
    """
    best = None
    for o in inp.overlaps:
        if o.n < MIN_IMAGES or o.neighbour_mixing < MIN_MIXING:
            continue
        if o.neighbour_mixing < MIN_RATIO * max(o.baseline_mixing, 1e-9):
            continue
        if math.isnan(o.silhouette) or o.silhouette > MAX_SILHOUETTE:
            continue
        if best is None or o.neighbour_mixing > best.neighbour_mixing:
            best = o
    if best is None:
        return None
    pair = inp.pair(best.true, best.pred)
    ratio = best.neighbour_mixing / max(best.baseline_mixing, 1e-9)
    return Finding(
        kind="feature_overlap",
        severity="medium",
        title=f"{best.true} and {best.pred} overlap in feature space",
        text=(
            f"On average {pct(best.neighbour_mixing)} of the {best.k} nearest neighbours of a {best.true} or "
            f"{best.pred} image (in the model's embedding) belong to the other class, {times(ratio)} the median "
            f"class pair ({pct(best.baseline_mixing, 1)}); silhouette {best.silhouette:.2f}. The features barely "
            "separate them: errors here more likely call for more discriminative data or features than for "
            "relabelling."
        ),
        classes=(best.true, best.pred),
        evidence={
            "neighbour_mixing": best.neighbour_mixing,
            "baseline_mixing": best.baseline_mixing,
            "silhouette": best.silhouette,
            "k": best.k,
            "n": best.n,
            "anchor": pair.anchor if pair else None,
            "section": "pairs",
            "strength": float(min(50.0, 10 * best.neighbour_mixing)),
        },
        examples=pair.examples[:8] if pair else (),
    )
