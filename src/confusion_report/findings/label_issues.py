"""label_issues: more confidently contradicted labels than a calibrated model expects, and the ranked suspects."""

from __future__ import annotations

from ..analyses.significance import strength
from ..results import Finding
from .inputs import FindingInputs
from .text import and_join, pct, pval, times

EXAMPLES = 12


def rule(inp: FindingInputs) -> Finding | None:
    """Fires when some (given -> suggested) pair has a significant excess (see ``noise_excess``).

    Hard images exist in any data set, so a list of low-confidence images is no evidence of label errors
    by itself; an excess over what the recalibrated model expects under correct labels is. ``examples``
    are the ranked suspects of the significant pairs (model and feature-space neighbours combined).
    """
    li = inp.label_issues
    if li is None or not li.excess:
        return None
    pairs = {(e.given, e.suggested) for e in li.excess}
    suspects = [s for s in li.suspects if (s.given, s.suggested) in pairs]
    e = li.excess[0]
    observed = sum(x.observed for x in li.excess)
    parts = [
        f"{x.observed} labelled {x.given} look like {x.suggested} ({x.expected:.1f} expected)" for x in li.excess[:3]
    ]
    classes = tuple(dict.fromkeys(c for x in li.excess for c in (x.given, x.suggested)))
    return Finding(
        kind="label_issues",
        severity="high",
        title="Possible label errors: "
        + and_join([f"{x.given} images that look like {x.suggested}" for x in li.excess[:3]]),
        text=(
            f"{observed} images get at most {pct(li.threshold)} for their given label from the model after "
            f"recalibration, far more than the model expects if the labels were right: {'; '.join(parts)}. "
            f"Strongest: {e.given} → {e.suggested}, {times(e.observed / max(e.expected, 1e-9))} "
            f"(Poisson {pval(e.p_value)}, q = {e.q_value:.2g}). Consistent with mislabelled images; a cue shared "
            "by these images that the model links to the other class leaves the same signature, so look at the "
            f"examples before relabelling. The ranked list ({li.method}) starts with the {len(suspects)} suspects "
            "of these pairs."
        ),
        classes=classes,
        evidence={
            "pairs": [
                {
                    "given": x.given,
                    "suggested": x.suggested,
                    "observed": x.observed,
                    "expected": x.expected,
                    "p_value": x.p_value,
                    "q_value": x.q_value,
                }
                for x in li.excess
            ],
            "threshold": li.threshold,
            "temperature": li.temperature,
            "n_flagged": li.n_flagged,
            "n_baseline_flagged": li.n_baseline_flagged,
            "method": li.method,
            "section": "label-issues",
            "strength": strength(e.p_value),
        },
        examples=tuple(s.path for s in suspects[:EXAMPLES]),
    )
