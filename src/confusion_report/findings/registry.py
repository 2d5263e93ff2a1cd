"""The list of rules, and ranking: severity first, then strength of the evidence."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from ..results import Finding
from . import (
    ambiguous_errors,
    asymmetric_pair,
    attention_region,
    calibration,
    confusion_cluster,
    data_quality,
    feature_overlap,
    label_issues,
    layer_separation,
    near_duplicates,
    prediction_bias,
    property_slice,
)
from .inputs import FindingInputs

Rule = Callable[[FindingInputs], Finding | None]

# kind id -> rule; the ids are the JSON's findings[].kind.
RULES: dict[str, Rule] = {
    "confusion_cluster": confusion_cluster.rule,
    "asymmetric_pair": asymmetric_pair.rule,
    "prediction_bias": prediction_bias.rule,
    "ambiguous_errors": ambiguous_errors.rule,
    "feature_overlap": feature_overlap.rule,
    "label_issues": label_issues.rule,
    "near_duplicates": near_duplicates.rule,
    "property_slice": property_slice.rule,
    "attention_region": attention_region.rule,
    "calibration": calibration.rule,
    "layer_separation": layer_separation.rule,
    "data_quality": data_quality.rule,
}

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def rank_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first; within a severity, the strongest evidence (``evidence['strength']``) first."""
    return tuple(
        sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), -float(f.evidence.get("strength", 0.0))))
    )


def reconcile(findings: list[Finding]) -> list[Finding]:
    """Let findings that explain the same errors qualify each other.

    A spurious cue (attention_region, or a property slice of the same pair) makes a model confidently
    contradict correct labels, which is also the signature of label errors: when both fire for the same
    pair, the label finding says so and drops to medium severity instead of sending someone to relabel.
    """
    cues = {}
    for f in findings:
        if f.kind in ("attention_region", "property_slice") and len(f.classes) == 2:
            cues.setdefault((f.classes[0], f.classes[1]), f)
    out = []
    for f in findings:
        if f.kind == "label_issues":
            hits = [
                (p["given"], p["suggested"])
                for p in f.evidence.get("pairs", [])
                if (p["given"], p["suggested"]) in cues
            ]
            if hits:
                a, b = hits[0]
                cue = cues[(a, b)]
                what = "attention finding" if cue.kind == "attention_region" else "property-slice finding"
                note = (
                    f" Caution: the {what} for {a} → {b} points to a shared cue in these images, which explains "
                    "the same numbers without any wrong label."
                )
                f = replace(f, severity="medium", text=f.text + note, evidence={**f.evidence, "qualified_by": cue.kind})
        out.append(f)
    return out


def run_rules(inputs: FindingInputs, *, kinds: Iterable[str] | None = None) -> tuple[Finding, ...]:
    """Run every rule (or only ``kinds``), let related findings qualify each other, and rank them."""
    chosen = RULES if kinds is None else {k: RULES[k] for k in kinds}
    fired = [f for f in (rule(inputs) for rule in chosen.values()) if f is not None]
    return rank_findings(reconcile(fired))
