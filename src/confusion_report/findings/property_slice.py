"""property_slice: a class's (or pair's) errors concentrate in a slice of an image property."""

from __future__ import annotations

from ..analyses.significance import strength
from ..results import Finding
from .inputs import FindingInputs
from .text import and_join, pct, pval, times

# Words for (property, direction); the threshold is the within-class tercile bound.
WORDS = {
    ("brightness", "low"): "the darkest third",
    ("brightness", "high"): "the brightest third",
    ("contrast", "low"): "the lowest-contrast third",
    ("contrast", "high"): "the highest-contrast third",
    ("saturation", "low"): "the least saturated third",
    ("saturation", "high"): "the most saturated third",
    ("sharpness", "low"): "the blurriest third",
    ("sharpness", "high"): "the sharpest third",
    ("size", "low"): "the smallest third (original size)",
    ("size", "high"): "the largest third (original size)",
    ("aspect ratio", "low"): "the tallest third (aspect ratio)",
    ("aspect ratio", "high"): "the widest third (aspect ratio)",
    ("grayscale", "yes"): "the grayscale images",
}


def rule(inp: FindingInputs) -> Finding | None:
    """The most significant slice from :func:`confusion_report.analyses.slices.find_slices` (already BH-controlled)."""
    if not inp.slices:
        return None
    s = inp.slices[0]
    where = WORDS.get((s.prop, s.direction), f"the {s.direction} {s.prop} slice")
    unit = "" if s.prop == "grayscale" else f" ({s.prop} {'≤' if s.direction == 'low' else '≥'} {s.threshold:.3g})"
    rate_in, rate_out = s.errors_slice / s.n_slice, s.errors_rest / max(s.n_rest, 1)
    what = "misclassified" if s.pred is None else f"predicted as {s.pred}"
    words = [f"{a.rsplit(' ', 1)[0]} ({a.rsplit(' ', 1)[1]})" for a in s.also[:3]]
    also = f" The same images also differ in {and_join(words)}." if words else ""
    others = [f"{x.true}{' → ' + x.pred if x.pred else ''} ({x.prop}, {x.direction})" for x in inp.slices[1:4]]
    more = f" Other significant slices: {'; '.join(others)}." if others else ""
    subject = s.true if s.pred is None else f"{s.true} → {s.pred}"
    anchor = inp.anchor(s.true, s.pred) if s.pred else None
    return Finding(
        kind="property_slice",
        severity="high" if s.lift >= 2 and s.errors_slice >= 20 and s.q_value <= 1e-4 else "medium",
        title=f"{subject}: errors concentrate in {s.prop} {s.direction}",
        text=(
            f"{s.true} images in {where}{unit} are {what} {pct(rate_in)} of the time "
            f"({s.errors_slice} of {s.n_slice}) against {pct(rate_out)} for the other {s.true} images "
            f"({times(s.lift)}; Fisher {pval(s.p_value)}, q = {s.q_value:.2g}).{also} Consistent with a model that is "
            f"sensitive to {s.prop} for this class; more training images like these, or augmentation, may help.{more}"
        ),
        classes=(s.true,) if s.pred is None else (s.true, s.pred),
        evidence={
            "property": s.prop,
            "direction": s.direction,
            "threshold": s.threshold,
            "error_rate_slice": rate_in,
            "error_rate_rest": rate_out,
            "n_slice": s.n_slice,
            "lift": s.lift,
            "p_value": s.p_value,
            "q_value": s.q_value,
            "also": list(s.also),
            "anchor": anchor,
            "section": "slices",
            "strength": strength(s.p_value),
        },
        examples=s.examples,
    )
