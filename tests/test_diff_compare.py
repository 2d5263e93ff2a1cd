"""Comparing two runs: deltas, McNemar, per-class significance, flips, finding changes and gates."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from builders import ColourNet, make_colour_folder
from confusion_report import build
from confusion_report.diff import diff
from confusion_report.diff.compare import compare, mcnemar_p
from confusion_report.errors import ReportError
from confusion_report.results import Finding, ReportData
from diff_builders import FAST, worse_net


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[ReportData, ReportData, Path]:
    """BASE: the colour model; NEW: the same model worse on red (bright reds now read as green)."""
    data = make_colour_folder(
        tmp_path_factory.mktemp("diff") / "data", confusions={("red", "green"): 3, ("blue", "red"): 2}
    )
    base = build(ColourNet().eval(), data, out=None, **FAST)
    new = build(worse_net(victim="red", thief="green"), data, out=None, **FAST)
    return base, new, data


def _with_preds(run: ReportData, preds: list[int]) -> ReportData:
    return dataclasses.replace(run, images=dataclasses.replace(run.images, preds=tuple(preds)))


def test_identical_runs_have_zero_deltas_no_flips_and_pass_every_gate(runs) -> None:
    """A run against itself: every delta and interval is 0, nothing flips, no finding changes, exit 0."""
    base, _, _ = runs
    d = diff(base, base, max_accuracy_drop=0, max_class_recall_drop=0, fail_on_new_finding="medium")
    c = d.comparison
    assert all(m.delta == 0 and m.low == 0 and m.high == 0 for m in c.metrics)
    assert c.right_to_wrong == () and c.wrong_to_right == () and c.mcnemar.p_value == 1.0
    assert c.worse_pairs == () and c.better_pairs == () and c.findings == ()
    assert all(k.recall_delta == 0 and k.precision_delta == 0 for k in c.per_class)
    assert d.exit_code == 0 and len(d.gates) == 3 and d.failed_gates == ()


def test_worse_class_fails_the_recall_gate_by_name_and_fills_the_flip_gallery(runs) -> None:
    """NEW loses the red images BASE got right: the gate names red only, and those images are the flips."""
    base, new, data = runs
    d = diff(base, new, max_class_recall_drop=5)
    assert d.exit_code == 1
    (gate,) = d.failed_gates
    assert gate.name == "max-class-recall-drop" and gate.classes == ("red",)
    assert "red" in gate.detail
    # BASE gets the plain reds right (the planted "looks_green" reds were already wrong).
    plain_reds = {f"red/{p.name}" for p in (data / "red").glob("red_*.png")}
    assert {f.path for f in d.comparison.right_to_wrong} == plain_reds
    assert all(f.true == "red" and f.base_pred == "red" and f.new_pred == "green" for f in d.comparison.right_to_wrong)
    assert d.comparison.per_class[0].name == "red"
    worst_pair = d.comparison.worse_pairs[0]
    assert (worst_pair.true, worst_pair.pred, worst_pair.delta) == ("red", "green", len(plain_reds))


def test_headline_metrics_equal_the_reports_own(runs) -> None:
    """Accuracy, balanced accuracy and macro F1 from the per-image block equal each report's metrics."""
    base, new, _ = runs
    c = compare(base, new, bootstrap=50)
    by_key = {m.key: m for m in c.metrics}
    for run, side in ((base, "base"), (new, "new")):
        assert getattr(by_key["accuracy"], side) == pytest.approx(run.metrics.accuracy)
        assert getattr(by_key["balanced_accuracy"], side) == pytest.approx(run.metrics.balanced_accuracy)
        assert getattr(by_key["macro_f1"], side) == pytest.approx(run.metrics.macro_f1)
        # Confidences travel rounded to 3 digits: the ECE may move by that much.
        assert getattr(by_key["ece"], side) == pytest.approx(run.metrics.ece, abs=1e-3)
    acc = by_key["accuracy"]
    assert acc.low <= acc.delta <= acc.high < 0


def test_mcnemar_counts_flips_both_ways_and_tests_them_exactly(runs) -> None:
    """Flips are counted per direction; with all flips one way p is 2 * 0.5**n (exact binomial)."""
    base, new, _ = runs
    c = compare(base, new, bootstrap=0)
    n = c.mcnemar.right_to_wrong
    assert n > 0 and c.mcnemar.wrong_to_right == 0
    assert c.mcnemar.p_value == pytest.approx(2 * 0.5**n)
    reverse = compare(new, base, bootstrap=0)
    assert (reverse.mcnemar.right_to_wrong, reverse.mcnemar.wrong_to_right) == (0, n)
    assert mcnemar_p(5, 5) == 1.0


def test_a_drop_of_one_image_is_not_significant_and_passes_the_gate(runs) -> None:
    """One red image flipping is a drop of 1/support (over 5 pp) but not significant: the gate passes, noting it."""
    base, _, _ = runs
    imgs = base.images
    red, green = imgs.classes.index("red"), imgs.classes.index("green")
    k = next(i for i, (y, p) in enumerate(zip(imgs.labels, imgs.preds, strict=True)) if y == p == red)
    preds = list(imgs.preds)
    preds[k] = green
    d = diff(base, _with_preds(base, preds), max_class_recall_drop=5)
    red_row = next(r for r in d.comparison.per_class if r.name == "red")
    assert -100 * red_row.recall_delta > 5 and not red_row.significant
    assert d.exit_code == 0
    assert "not significant" in d.gates[0].detail and "red" in d.gates[0].detail


def test_accuracy_gate_compares_the_drop_in_percentage_points(runs) -> None:
    """The accuracy gate fails just below the measured drop and passes at it."""
    base, new, _ = runs
    drop = 100 * (base.metrics.accuracy - new.metrics.accuracy)
    assert diff(base, new, max_accuracy_drop=drop - 0.1, bootstrap=0).exit_code == 1
    assert diff(base, new, max_accuracy_drop=drop + 1e-9, bootstrap=0).exit_code == 0


def test_finding_changes_are_matched_by_kind_and_classes(runs) -> None:
    """A new high finding fails --fail-on-new-finding high; a gone one and a severity change are listed."""
    base, _, _ = runs
    keep = Finding(kind="calibration", severity="low", title="calibrated", text="", classes=("red",))
    gone = Finding(kind="label_issues", severity="high", title="old issue", text="", classes=("blue",))
    added = Finding(kind="asymmetric_pair", severity="high", title="new issue", text="", classes=("red", "green"))
    b = dataclasses.replace(base, findings=(keep, gone))
    n = dataclasses.replace(base, findings=(dataclasses.replace(keep, severity="medium"), added))
    d = diff(b, n, fail_on_new_finding="high", bootstrap=0)
    changes = {(f.change, f.title) for f in d.comparison.findings}
    assert changes == {("appeared", "new issue"), ("disappeared", "old issue"), ("severity", "calibrated")}
    assert d.exit_code == 1 and d.failed_gates[0].classes == ("red", "green")
    # low -> medium is below "high", so only the medium gate counts it.
    only_rise = dataclasses.replace(base, findings=(dataclasses.replace(keep, severity="medium"),))
    assert diff(dataclasses.replace(base, findings=(keep,)), only_rise, fail_on_new_finding="high").exit_code == 0
    assert diff(dataclasses.replace(base, findings=(keep,)), only_rise, fail_on_new_finding="medium").exit_code == 1


def test_partial_overlap_warns_with_counts_and_covers_the_common_images(runs) -> None:
    """Images only one run saw are left out, and the warning says how many on each side."""
    base, new, _ = runs
    imgs = new.images
    cut = dataclasses.replace(
        imgs,
        paths=imgs.paths[3:],
        labels=imgs.labels[3:],
        preds=imgs.preds[3:],
        confidence=imgs.confidence[3:],
    )
    c = compare(base, dataclasses.replace(new, images=cut), bootstrap=0)
    assert (c.n_common, c.only_base, c.only_new) == (len(imgs.paths) - 3, 3, 0)
    assert "3 only in BASE" in c.warnings[0]


def test_runs_that_cannot_be_paired_are_one_line_errors(runs) -> None:
    """Disjoint paths, different labels and a results file without per-image data are refused clearly."""
    base, _, _ = runs
    imgs = base.images
    moved = dataclasses.replace(imgs, paths=tuple("other/" + p for p in imgs.paths))
    with pytest.raises(ReportError, match="no image in common"):
        compare(base, dataclasses.replace(base, images=moved))
    labels = list(imgs.labels)
    labels[0] = (labels[0] + 1) % len(imgs.classes)
    relabelled = dataclasses.replace(imgs, labels=tuple(labels))
    with pytest.raises(ReportError, match="label 1 common image"):
        compare(base, dataclasses.replace(base, images=relabelled))
    with pytest.raises(ReportError, match="BASE has no per-image predictions"):
        compare(dataclasses.replace(base, images=None), base)


def test_class_lists_in_another_order_are_matched_by_name(runs) -> None:
    """NEW listing its classes in another order (indices differ) compares equal to BASE."""
    base, _, _ = runs
    imgs = base.images
    order = (2, 0, 1)  # new class k is old class order[k]
    remap = {old: new for new, old in enumerate(order)}
    shuffled = dataclasses.replace(
        imgs,
        classes=tuple(imgs.classes[o] for o in order),
        labels=tuple(remap[v] for v in imgs.labels),
        preds=tuple(remap[v] for v in imgs.preds),
    )
    c = compare(base, dataclasses.replace(base, images=shuffled), bootstrap=0)
    assert c.right_to_wrong == () and all(m.delta == 0 for m in c.metrics)
