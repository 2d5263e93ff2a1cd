"""feature_overlap: the two classes of a confused pair mix in the model's feature space."""

from __future__ import annotations

import math

from ..results import Finding
from .inputs import FindingInputs
from .text import pct

# The feature-space section's own verdict: at mixing / chance >= 0.5 the two classes are at least half
# as mixed among each other's nearest neighbours as random labels would be ("overlapping").
MIN_MIXING_RATIO = 0.5
MAX_SILHOUETTE = 0.1
MIN_IMAGES = 40


def rule(inp: FindingInputs) -> Finding | None:
    """The measured pair that mixes most, if the section calls it overlapping and its silhouette agrees.

    Reads the same :class:`~confusion_report.results.PairOverlap` the feature-space section shows.
    Neighbour mixing over thousands of neighbour slots is a stable description rather than a noisy
    estimate, so the rule uses effect sizes (mixing at least half of chance, cosine silhouette <= 0.1)
    and a minimum number of images instead of a p-value.
    """
    best = None
    for o in inp.overlaps:
        if o.n_a + o.n_b < MIN_IMAGES or o.mixing_ratio < MIN_MIXING_RATIO:
            continue
        if math.isnan(o.silhouette) or o.silhouette > MAX_SILHOUETTE:
            continue
        if best is None or o.mixing_ratio > best.mixing_ratio:
            best = o
    if best is None:
        return None
    pair = inp.pair(best.a, best.b) or inp.pair(best.b, best.a)
    return Finding(
        kind="feature_overlap",
        severity="medium",
        title=f"{best.a} and {best.b} overlap in feature space",
        text=(
            f"Among {best.a} and {best.b} images, {pct(best.mixing)} of each image's nearest neighbours (in the "
            f"model's embedding) belong to the other class, {pct(best.mixing_ratio, 0)} of what random labels "
            f"would give; silhouette {best.silhouette:.2f}. The features barely separate them: errors here more "
            "likely call for more discriminative data or features than for relabelling."
        ),
        classes=(best.a, best.b),
        evidence={
            "mixing": best.mixing,
            "chance": best.chance,
            "mixing_ratio": best.mixing_ratio,
            "share_ab": best.share_ab,
            "share_ba": best.share_ba,
            "silhouette": best.silhouette,
            "n": best.n_a + best.n_b,
            "anchor": pair.anchor if pair else None,
            "section": "feature-space",
            "strength": float(min(50.0, 20 * best.mixing_ratio)),
        },
        examples=pair.examples[:8] if pair else (),
    )
