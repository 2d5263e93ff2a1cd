"""Image statistics in the pass, calibration, data quality, ranking, and the findings in the report and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from builders import ColourNet, make_colour_folder
from confusion_report import build
from confusion_report.analyses.calibration import compute_calibration
from confusion_report.analyses.image_stats import STAT_NAMES, ImageStats, image_statistics
from confusion_report.collectors.image_stats import ImageStatsCollector
from confusion_report.engine import run_pass
from confusion_report.findings import rank_findings, run_rules
from confusion_report.loading import wrap_module
from confusion_report.preprocess import build_transform, resolve_preprocessing
from confusion_report.results import Finding, ReportData
from findings_builders import gaussian_world, inputs_for, predictions, random_stats


def test_collector_matches_the_numpy_reference_on_unnormalised_input() -> None:
    """The in-pass statistics equal image_statistics() on the un-normalised batch; gray and dark are seen."""
    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 1, (4, 3, 16, 16))
    imgs[1] = imgs[1].mean(axis=0, keepdims=True)  # grayscale
    imgs[2] *= 0.1  # dark
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x = (torch.tensor(imgs, dtype=torch.float32) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1
    )
    col = ImageStatsCollector(mean=mean, std=std)
    col.attach(torch.nn.Identity(), 4)
    col.after_forward(np.arange(4), x, None, None)
    got = col.result(np.arange(4))
    ref = image_statistics(imgs)
    for k, v in ref.items():
        np.testing.assert_allclose(got[f"stat_{k}"], v, rtol=1e-3, atol=1e-5)
    assert got["stat_grayscale"].tolist() == [0, 1, 0, 0]
    assert got["stat_brightness"].argmin() == 2


class _AfterForwardStats(ImageStatsCollector):
    """The collector as the GPU-decoding pass uses it: measured after each forward, not in the loader."""

    def loader_measure(self) -> None:
        return None


def test_statistics_measured_in_loader_workers_equal_those_after_the_forward(tmp_path: Path) -> None:
    """The CPU pass's workers measure each batch; the numbers and hashes equal the after-forward path's."""
    root = make_colour_folder(tmp_path / "data", per_class=7, confusions={("red", "blue"): 2}, size=20)
    (root / "red" / "broken.png").write_bytes(b"not a png")  # a failed image keeps its batch aligned
    paths = sorted(root.rglob("*.png"))
    info = resolve_preprocessing(preset="none", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    results = []
    for collector in (
        ImageStatsCollector(mean=info.mean, std=info.std),
        _AfterForwardStats(mean=info.mean, std=info.std),
    ):
        arrays = run_pass(
            wrap_module(ColourNet().eval()),
            paths,
            build_transform(info),
            num_outputs=3,
            device=torch.device("cpu"),
            batch_size=5,
            workers=1,
            collectors=[collector],
            progress=False,
        )
        assert collector.in_loader == (type(collector) is ImageStatsCollector)
        results.append(arrays)
    loader, after = results
    assert len(loader.indices) == len(paths) - 1 and np.array_equal(loader.indices, after.indices)
    assert set(loader.extras) == set(after.extras) == {*(f"stat_{k}" for k in STAT_NAMES), "image_hash"}
    for k, v in loader.extras.items():
        np.testing.assert_allclose(v, after.extras[k], rtol=1e-6, err_msg=k)
    assert len(set(loader.extras["image_hash"].tolist())) > 3  # real hashes, not zeros


def test_ece_is_small_when_calibrated_and_large_when_overconfident() -> None:
    """Bayes-posterior logits are calibrated; times 4 they are over-confident and the finding names confused classes."""
    x, logits, labels, _ = gaussian_world(separation=3.0)
    calibrated = compute_calibration(predictions(logits, labels, x))
    assert calibrated.ece < 0.03
    p = predictions(logits * 4, labels, x)
    cal = compute_calibration(p)
    assert cal.ece > 0.08 and sum(b.count for b in cal.bins) == len(labels)
    f = {f.kind: f for f in run_rules(inputs_for(p, calibration=cal))}["calibration"]
    top = {c for pr in inputs_for(p).pairs[:5] for c in (pr.true, pr.pred)}
    assert set(f.classes) <= top and f.evidence["gap"] >= 0.05


def test_grayscale_strays_fire_data_quality() -> None:
    """A few grayscale images in a colour set are reported with their count."""
    x, logits, labels, _ = gaussian_world(separation=5.0)
    stats = random_stats(len(labels))
    gray = np.zeros(len(labels), bool)
    gray[:12] = True
    stats = ImageStats(**{**stats.__dict__, "grayscale": gray})
    f = {f.kind: f for f in run_rules(inputs_for(predictions(logits, labels, x), image_stats=stats))}
    assert f["data_quality"].evidence["grayscale"] == 12


def test_findings_rank_by_severity_then_strength() -> None:
    """High before medium before low; within a severity the stronger evidence first."""
    fs = [
        Finding("a", "medium", "t", "x", evidence={"strength": 9.0}),
        Finding("b", "high", "t", "x", evidence={"strength": 1.0}),
        Finding("c", "medium", "t", "x", evidence={"strength": 20.0}),
        Finding("d", "low", "t", "x"),
    ]
    assert [f.kind for f in rank_findings(fs)] == ["b", "c", "a", "d"]


def test_report_shows_findings_and_json_carries_the_new_results(colour_net, tmp_path: Path) -> None:
    """Grayscale strays fire data_quality at the top of the report; JSON has ece, calibration, label issues."""
    root = make_colour_folder(tmp_path / "data", per_class=12, confusions={("red", "green"): 3})
    for i in range(2):
        Image.new("L", (16, 16), 200).save(root / "red" / f"gray_{i}.png")
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    result = build(colour_net, root, out=out, json_path=js, preset="none", workers=0, progress=False)
    kinds = [f.kind for f in result.findings]
    assert "data_quality" in kinds
    html = out.read_text(encoding="utf-8")
    assert html.index('id="findings"') < html.index('id="confusion"')
    assert 'class="badge sev-' in html and 'href="#data"' in html
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S)[1])
    assert data["findings"][0]["kind"] in kinds and isinstance(data["metrics"]["ece"], float)
    assert {"label_issues", "slices", "calibration", "duplicates", "feature_space"} <= set(data)
    again = ReportData.from_json(js.read_text(encoding="utf-8"))
    assert [(f.kind, f.title, f.examples) for f in again.findings] == [
        (f.kind, f.title, f.examples) for f in result.findings
    ]
    assert abs(again.calibration.ece - result.calibration.ece) < 1e-5  # JSON keeps 6 significant digits
    assert again.to_json() == ReportData.from_json(again.to_json()).to_json()


def test_a_cue_on_the_same_pair_qualifies_the_label_finding() -> None:
    """Label excess bird <- airplane plus attention on bird -> airplane: the label finding warns, drops to medium."""
    from confusion_report.findings.registry import reconcile

    label = Finding("label_issues", "high", "t", "x.", evidence={"pairs": [{"given": "bird", "suggested": "airplane"}]})
    cue = Finding("attention_region", "high", "t", "y", classes=("bird", "airplane"))
    other = Finding("attention_region", "high", "t", "y", classes=("cat", "dog"))
    assert reconcile([label, other])[0] == label
    qualified = reconcile([label, cue])[0]
    assert qualified.severity == "medium" and "shared cue" in qualified.text
