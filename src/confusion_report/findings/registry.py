"""The list of rules, and ranking: severity first, then strength of the evidence."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def run_rules(inputs: FindingInputs, *, kinds: Iterable[str] | None = None) -> tuple[Finding, ...]:
    """Run every rule (or only ``kinds``) and rank the findings that fired."""
    chosen = RULES if kinds is None else {k: RULES[k] for k in kinds}
    fired = [f for f in (rule(inputs) for rule in chosen.values()) if f is not None]
    return rank_findings(fired)
