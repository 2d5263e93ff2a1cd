"""The label finding holds under real ambiguity, says how strong its evidence is, and the whole ranked list ships."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from scipy.stats import poisson

from confusion_report.analyses.label_issues import find_label_issues, noise_excess
from confusion_report.analyses.significance import bh_qvalues
from confusion_report.findings import run_rules
from confusion_report.findings.inputs import PairAttentionInput
from confusion_report.predictions_csv import predictions_csv
from findings_builders import gaussian_world, inputs_for, predictions


def _ambiguous_world(seed: int):
    """Eight classes; each (class, runner-up) pair gets its own over-confidence factor (log-normal), as real
    pairs differ in how ambiguous they are and how miscalibrated a model is on them. Labels are correct."""
    x, logits, labels, _ = gaussian_world(n_classes=8, per_class=300, separation=3.0, seed=seed)
    rng = np.random.default_rng(seed)
    order = np.argsort(-logits, axis=1)
    runner_up = np.where(order[:, 0] == labels, order[:, 1], order[:, 0])
    factor = rng.lognormal(0.0, 1.0, (8, 8))
    return x, logits * factor[labels, runner_up][:, None], labels


def _label_finding(p, **extra):
    findings = run_rules(inputs_for(p, label_issues=find_label_issues(p), **extra))
    return next((f for f in findings if f.kind == "label_issues"), None)


@pytest.mark.parametrize("seed", [3, 4, 6])
def test_ambiguous_pairs_with_correct_labels_fire_no_label_finding(seed: int) -> None:
    """Pair-level overdispersion that a plain Poisson test mistakes for label errors is not reported."""
    x, logits, labels = _ambiguous_world(seed)
    p = predictions(logits, labels, x)
    test = noise_excess(p.logits, labels, p.names)
    observed = np.array([e.observed for e in test.pairs])
    expected = np.array([e.expected for e in test.pairs])
    assert (bh_qvalues(poisson.sf(observed - 1, expected)) <= 0.001).any()  # the old null would have fired
    assert test.dispersion > 0.1
    assert _label_finding(p) is None


@pytest.mark.parametrize("seed", [0, 1])
def test_concentrated_label_errors_stand_out_from_ambiguity_and_need_attention_evidence_for_high(seed: int) -> None:
    """60 c0 images filed as c1 in the ambiguous world: found; medium and 'a learnt cue cannot be ruled out'
    without attention evidence, high once attention for c1 -> c0 was checked."""
    x, logits, labels = _ambiguous_world(seed)
    given = labels.copy()
    planted = np.random.default_rng(seed + 100).choice(np.flatnonzero(labels == 0), 60, replace=False)
    given[planted] = 1
    p = predictions(logits, given, x)
    f = _label_finding(p)
    assert f is not None and (f.evidence["pairs"][0]["given"], f.evidence["pairs"][0]["suggested"]) == ("c1", "c0")
    assert f.severity == "medium" and "cannot be ruled out" in f.text
    assert f.evidence["attention_missing"] == ["c1 → c0"]
    assert 0.5 <= f.evidence["real_share"] <= 1.0 and f.evidence["real_share_low"] <= f.evidence["real_share"]
    assert f"expect about {100 * f.evidence['real_share']:.0f}%" in f.text and "real label errors" in f.text
    flat = np.full((30, 9), 1 / 9)
    looked = PairAttentionInput("c1", "c0", flat[:10], flat[10:])
    checked = _label_finding(p, attention=(looked,))
    assert checked.severity == "high" and "cannot be ruled out" not in checked.text


def test_without_embeddings_the_label_finding_stays_medium() -> None:
    """No feature-space neighbours (a model without hooks): the count stands alone, so never high."""
    _, logits, labels = _ambiguous_world(0)
    given = labels.copy()
    given[np.random.default_rng(100).choice(np.flatnonzero(labels == 0), 60, replace=False)] = 1
    p = predictions(logits, given)
    flat = np.full((30, 9), 1 / 9)
    f = _label_finding(p, attention=(PairAttentionInput("c1", "c0", flat[:10], flat[10:]),))
    assert f is not None and f.severity == "medium" and "stands alone" in f.text


def test_every_flagged_image_is_ranked_in_the_results_and_the_predictions_csv() -> None:
    """All flagged images are kept (the list used to stop at 200), ranked 1..n by score; the CSV has the rank."""
    x, logits, labels = _ambiguous_world(1)
    p = predictions(logits, labels, x)
    li = find_label_issues(p)
    assert li.n_flagged > 200 and len(li.suspects) == li.n_flagged
    assert [s.rank for s in li.suspects] == list(range(1, li.n_flagged + 1))
    scores = [s.score for s in li.suspects]
    assert scores == sorted(scores)
    rows = list(csv.DictReader(io.StringIO(predictions_csv(p, label_issues=li))))
    ranked = sorted((int(r["label_issue_rank"]), r["path"]) for r in rows if r["label_issue_rank"])
    assert [path for _, path in ranked] == [s.path for s in li.suspects]
    unflagged = next(r for r in rows if not r["label_issue_rank"])
    assert unflagged["label_issue_score"] == "" and unflagged["label_issue_suggested"] == ""
