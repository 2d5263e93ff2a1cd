"""data_quality: skipped or corrupt files, tiny images, grayscale images in an RGB set."""

from __future__ import annotations

import numpy as np

from ..results import Finding
from .inputs import FindingInputs
from .text import pct

TINY_SIDE = 16  # px: below this an image carries little for any classifier
TINY_FRACTION = 0.25  # ... or shorter side under a quarter of the median shorter side
MAX_GRAY_SHARE = 0.5  # above this the set is a grayscale set, not an RGB set with strays


def rule(inp: FindingInputs) -> Finding | None:
    """Plain counts; fires when any problem is present (facts, no test needed)."""
    parts, examples, evidence = [], [], {}
    n = max(inp.n_images, 1)
    if inp.skipped:
        parts.append(f"{len(inp.skipped)} files were skipped (unreadable or unsupported)")
        evidence["skipped"] = len(inp.skipped)
    st = inp.image_stats
    p = inp.predictions
    if st is not None:
        short = np.minimum(st.width, st.height)
        if len(short) and short.max() > 0:
            tiny = (short < TINY_SIDE) | (short < TINY_FRACTION * np.median(short))
            if tiny.any():
                parts.append(
                    f"{int(tiny.sum())} images are tiny (shorter side < {TINY_SIDE} px or a quarter of the median)"
                )
                evidence["tiny"] = int(tiny.sum())
                if p is not None:
                    examples += [p.paths[i] for i in np.flatnonzero(tiny)[:4]]
        gray = st.grayscale
        if 0 < gray.sum() <= MAX_GRAY_SHARE * len(gray):
            g = int(gray.sum())
            extra = ""
            if p is not None:
                wrong = p.preds != p.labels
                rates = f"{pct(wrong[gray].mean())} of them are misclassified, {pct(wrong[~gray].mean())} of the others"
                extra = f"; {rates}"
                examples += [p.paths[i] for i in np.flatnonzero(gray)[:4]]
            parts.append(f"{g} images ({pct(g / n, 1)}) are grayscale in an otherwise colour set{extra}")
            evidence["grayscale"] = g
    elif inp.conversions and 0 < inp.conversions.get("grayscale", 0) <= MAX_GRAY_SHARE * n:
        g = inp.conversions["grayscale"]
        parts.append(f"{g} grayscale files were converted to RGB")
        evidence["grayscale"] = g
    if not parts:
        return None
    bad = evidence.get("skipped", 0) + evidence.get("tiny", 0) + evidence.get("grayscale", 0)
    evidence.update({"section": "data", "strength": float(min(50.0, bad))})
    return Finding(
        kind="data_quality",
        severity="medium" if bad >= 0.01 * n else "low",
        title="Data quality",
        text="; ".join(parts) + ".",
        evidence=evidence,
        examples=tuple(examples),
    )
