"""label_issues: more confidently contradicted labels than ambiguity explains, and the ranked suspects."""

from __future__ import annotations

import math

from ..analyses.significance import strength
from ..results import Finding, LabelIssues
from .inputs import FindingInputs
from .text import and_join, pct, pval, times

EXAMPLES = 12
MIN_REAL_SHARE = 0.5  # high only when most flagged images of the pairs are expected to be real errors
MIN_NEIGHBOUR_SUPPORT = 0.5  # ... and most of them are rejected by their feature-space neighbours too
MIN_ATTENTION_ERRORS = 5  # attention evidence for a pair: at least this many of its errors were looked at


def _attention_covered(inp: FindingInputs, given: str, suggested: str) -> bool:
    """Whether attention evidence exists for the errors given -> suggested (in-pass CAMs or occlusion)."""
    return any(
        a.true == given and a.pred == suggested and len(a.error_cells) >= MIN_ATTENTION_ERRORS for a in inp.attention
    )


def _shares(li: LabelIssues) -> tuple[int, float, float, float]:
    """Images behind the excess pairs, their expected count under the null, and the pooled share of real
    errors (point estimate and conservative)."""
    observed = sum(e.observed for e in li.excess)
    null = sum(e.expected_null for e in li.excess)
    share = max(0.0, observed - null) / max(observed, 1)
    share_low = sum(e.real_share_low * e.observed for e in li.excess) / max(observed, 1)
    return observed, null, share, share_low


def rule(inp: FindingInputs) -> Finding | None:
    """Fires when some (given -> suggested) pair has a significant excess (see ``noise_excess``).

    Hard images exist in any data set, and genuinely ambiguous pairs exceed a calibrated model's
    expectation even with correct labels, so the test's null is overdispersed: a pair counts only
    when it stands out from the spread of all pairs. Severity is high only when independent signals
    agree: the estimated share of real errors in the pairs is at least half, most of the images are
    rejected by their feature-space neighbours as well, and attention evidence exists for every pair
    (without it, a learnt cue shared by these images cannot be ruled out). ``examples`` are the
    ranked suspects of the significant pairs.
    """
    li = inp.label_issues
    if li is None or not li.excess:
        return None
    pairs = {(e.given, e.suggested) for e in li.excess}
    suspects = [s for s in li.suspects if (s.given, s.suggested) in pairs]
    e = li.excess[0]
    observed, null, share, share_low = _shares(li)
    parts = [
        f"{x.observed} labelled {x.given} look like {x.suggested} ({x.expected_null:.1f} expected)"
        for x in li.excess[:3]
    ]
    classes = tuple(dict.fromkeys(c for x in li.excess for c in (x.given, x.suggested)))
    uncovered = [f"{x.given} → {x.suggested}" for x in li.excess if not _attention_covered(inp, x.given, x.suggested)]
    neighbours_known = not math.isnan(li.neighbour_support)
    agree = neighbours_known and li.neighbour_support >= MIN_NEIGHBOUR_SUPPORT
    high = share >= MIN_REAL_SHARE and agree and not uncovered
    word = "strong" if e.q_value <= 1e-6 else "moderate"
    signals = [f"the count ({word}: negative binomial {pval(e.p_value)}, q = {e.q_value:.2g})"]
    if neighbours_known:
        signals.append(
            f"the feature-space neighbours ({pct(li.neighbour_support)} of these images have neighbours that "
            f"mostly carry another label{'' if agree else ': too few to confirm'})"
        )
    else:
        signals.append("no feature-space neighbours (no embeddings), so the count stands alone")
    cue = (
        f" No attention evidence exists for {and_join(uncovered)}, so a learnt cue shared by these images "
        "(which leaves the same signature) cannot be ruled out."
        if uncovered
        else " Attention evidence was checked for these pairs; a shared cue would also show as an attention finding."
    )
    return Finding(
        kind="label_issues",
        severity="high" if high else "medium",
        title="Possible label errors: "
        + and_join([f"{x.given} images that look like {x.suggested}" for x in li.excess[:3]]),
        text=(
            f"{observed} images get at most {pct(li.threshold)} for their given label from the model after "
            f"recalibration, more than ambiguity explains ({null:.1f} expected: the calibrated expectation "
            f"× {li.scale:.2f}, the spread of all pairs allowed for): {'; '.join(parts)}. Strongest: "
            f"{e.given} → {e.suggested}, {times(e.observed / max(e.expected_null, 1e-9))}. Evidence: "
            f"{'; '.join(signals)}. Ambiguity explains about {pct(1 - share)} of them: unless a shared cue explains "
            f"the rest, expect about {pct(share)} (at least {pct(share_low)}) to be real label errors.{cue} Look at "
            f"the examples before relabelling. The ranked list ({li.method}) holds all {li.n_flagged} flagged "
            f"images; {len(suspects)} of them are in these pairs."
        ),
        classes=classes,
        evidence={
            "pairs": [
                {
                    "given": x.given,
                    "suggested": x.suggested,
                    "observed": x.observed,
                    "expected": x.expected,
                    "expected_null": x.expected_null,
                    "real_share": x.real_share,
                    "p_value": x.p_value,
                    "q_value": x.q_value,
                }
                for x in li.excess
            ],
            "threshold": li.threshold,
            "temperature": li.temperature,
            "scale": li.scale,
            "dispersion": li.dispersion,
            "real_share": share,
            "real_share_low": share_low,
            "neighbour_support": li.neighbour_support,
            "attention_missing": uncovered,
            "n_flagged": li.n_flagged,
            "n_baseline_flagged": li.n_baseline_flagged,
            "method": li.method,
            "section": "label-issues",
            "strength": strength(e.p_value),
        },
        examples=tuple(s.path for s in suspects[:EXAMPLES]),
    )
