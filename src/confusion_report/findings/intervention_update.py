"""Findings updated from their interventions: the sentence and severity follow what the edit did.

A pure rule over numbers (no torch): :func:`confusion_report.interventions.run.run_interventions`
measures, this module words and judges. A cue whose removal restores the true class far more often than
removing a same-size region elsewhere is confirmed; one whose removal restores nothing is downgraded and
says so. A property slice is confirmed when moving its images to the class's typical value lowers their
error rate (and does so more than the same change does for the rest of the class).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..analyses.significance import strength
from ..results import Finding
from .registry import rank_findings
from .text import pct, pval

MAX_P = 0.01  # the paired (McNemar) test of the intervention against its control
MIN_GAP = 0.2  # restored share beyond the control region's, for a confirmed cue
MIN_DROP = 0.1  # error-rate change of the slice's images, for a confirmed slice
MIN_EXCESS = 0.05  # ... beyond what the same change does outside the slice
LOWER = {"high": "medium", "medium": "low", "low": "low"}


def apply_interventions(findings: Sequence[Finding], results: Mapping[int, dict[str, Any]]) -> tuple[Finding, ...]:
    """``findings`` with ``results[k]`` (finding ``k``'s ``evidence.intervention``) worded in, re-ranked."""
    return rank_findings(update_finding(f, results[k]) if k in results else f for k, f in enumerate(findings))


def update_finding(f: Finding, result: dict[str, Any]) -> Finding:
    """One finding with its intervention in the evidence, the sentence and the severity."""
    evidence = {**f.evidence, "intervention": result}
    if result.get("status") != "tested":
        note = f" Not tested by intervention: {result.get('reason', 'unknown reason')}."
        return replace(f, text=f.text + note, evidence=evidence)
    if f.kind == "attention_region":
        return _attention(f, result, evidence)
    return _slice(f, result, evidence)


def verdict_attention(r: Mapping[str, Any]) -> str:
    """ "confirmed", "partial" or "none" from the restored shares and the paired test."""
    gap = r["restored"] - r["control_restored"]
    if r["p_value"] <= MAX_P and gap >= MIN_GAP:
        return "confirmed"
    if r["p_value"] <= 0.05 and gap > 0:
        return "partial"
    return "none"


def _attention(f: Finding, r: dict[str, Any], evidence: dict[str, Any]) -> Finding:
    true = f.classes[0]
    verdict = verdict_attention(r)
    what = r["action"].split(" filled with ")[0]
    how = r["action"].split(" filled with ")[-1]
    lead = (
        f" Tested by intervention: masking {what} (filled with {how}) turns {pct(r['restored'])} of "
        f"these errors ({r['n']} tested) into {true} (control region: {pct(r['control_restored'])}; "
        f"paired test {pval(r['p_value'])})"
    )
    kept = r.get("kept_correct")
    kept_words = (
        f"; {pct(kept)} of {r['n_correct']} correct {true} images stay correct with it masked"
        if kept is not None
        else ""
    )
    if verdict == "confirmed":
        tail = "." + (
            f" The decision depends on {what}."
            if kept is None or kept >= 0.8
            else f" The decision depends on {what}, which also holds real {true} content."
        )
        severity, score = f.severity, max(float(evidence.get("strength", 0.0)), strength(r["p_value"]))
    elif verdict == "partial":
        tail = f". Only part of these errors depend on {what}; severity lowered."
        severity, score = LOWER[f.severity], float(evidence.get("strength", 0.0))
    else:
        tail = (
            f". Removing {what} restores no more than a region elsewhere: the attention there does not drive "
            "these errors; severity lowered."
        )
        severity, score = "low", 0.0
    evidence = {**evidence, "intervention": {**r, "verdict": verdict}, "strength": score}
    return replace(f, severity=severity, text=f.text + lead + kept_words + tail, evidence=evidence)


def verdict_slice(r: Mapping[str, Any]) -> str:
    """ "confirmed", "unspecific" (the same change helps outside the slice as much) or "none"."""
    sign = -1.0 if r.get("reverse") else 1.0  # the reverse test expects errors to rise
    change = sign * (r["error_before"] - r["error_after"])
    ctl = 0.0
    if r.get("control_error_before") is not None:
        ctl = sign * (r["control_error_before"] - r["control_error_after"])
    if r["p_value"] > MAX_P or change < MIN_DROP:
        return "none"
    return "confirmed" if change >= ctl + MIN_EXCESS else "unspecific"


def _slice(f: Finding, r: dict[str, Any], evidence: dict[str, Any]) -> Finding:
    verdict = verdict_slice(r)
    prop, cls = f.evidence.get("property", "the property"), f.classes[0]
    rate = "error rate" if len(f.classes) == 1 else f"rate of {f.classes[1]} predictions"
    if r.get("reverse"):
        lead = (
            f" Tested by intervention: with {r['action']}, their {rate} goes from "
            f"{pct(r['error_before'])} to {pct(r['error_after'])}"
        )
    else:
        lead = (
            f" Tested by intervention: {r['n']} of these images {r['action']}: their {rate} goes from "
            f"{pct(r['error_before'])} to {pct(r['error_after'])}"
        )
    if r.get("control_error_before") is not None:
        lead += (
            f" ({r['control_action']}: {pct(r['control_error_before'])} to {pct(r['control_error_after'])};"
            f" paired test {pval(r['p_value'])})"
        )
    if verdict == "confirmed":
        tail = f". {prop.capitalize()} itself drives part of these errors."
        severity, score = f.severity, max(float(evidence.get("strength", 0.0)), strength(r["p_value"]))
    elif verdict == "unspecific":
        tail = f". The same change helps the other {cls} images as much: not specific to this slice; severity lowered."
        severity, score = LOWER[f.severity], float(evidence.get("strength", 0.0))
    else:
        tail = f". Changing {prop} does not remove these errors: the images may share something else; severity lowered."
        severity, score = LOWER[f.severity], 0.0
    evidence = {**evidence, "intervention": {**r, "verdict": verdict}, "strength": score}
    return replace(f, severity=severity, text=f.text + lead + tail, evidence=evidence)
