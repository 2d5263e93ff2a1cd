"""Findings tested by intervention: edit the images as the finding says, re-run the model, word the result."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from confusion_report.analyses.image_stats import ImageStats, image_statistics
from confusion_report.analyses.slices import find_slices
from confusion_report.findings import attention_region, property_slice
from confusion_report.findings.inputs import PairAttentionInput
from confusion_report.findings.intervention_update import apply_interventions
from confusion_report.forward_budget import intervention_forwards
from confusion_report.interventions.region import control_mask, neutralise, region_mask
from confusion_report.interventions.run import run_interventions
from confusion_report.interventions.slice import edit, fit_strengths, measure
from confusion_report.results import GRID_NAMES
from findings_builders import inputs_for, predictions
from why_builders import CornerNet, square_image, to_tensor


class ImageSet:
    """Preprocessed tensors in memory, served by index as the build's loader serves them from files."""

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        self.x = torch.stack(tensors)

    def __call__(self, indices: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return self.x[idx], idx


def _attention_finding(p, region: str, *, seed: int = 0):
    """The attention_region rule fired on maps that put the errors' attention in ``region`` by construction."""
    rng = np.random.default_rng(seed)
    n_err = int(((p.labels == 0) & (p.preds == 1)).sum())
    n_ok = int((p.preds == p.labels).sum())
    err = rng.dirichlet(np.ones(9), n_err) * 0.3
    err[:, GRID_NAMES.index(region)] += 0.7
    ok = rng.dirichlet(np.ones(9) * 5, n_ok)
    examples = tuple(p.paths[i] for i in np.flatnonzero((p.labels == 0) & (p.preds == 1)))
    att = PairAttentionInput(p.names[0], p.names[1], err, ok, examples=examples)
    finding = attention_region.rule(inputs_for(p, attention=(att,)))
    assert finding is not None and finding.evidence["region"] == region
    return finding


def _corner_world(corner: str):
    """plain (0) and square (1) images; 12 plain images carry the square in ``corner`` (errors plain -> square)."""
    imgs, labels = [], []
    for i in range(20):
        imgs.append(square_image(square=False, seed=i))
        labels.append(0)
        imgs.append(square_image(square=True, seed=100 + i))
        labels.append(1)
    for i in range(12):
        imgs.append(square_image(square=True, corner=corner, seed=200 + i))
        labels.append(0)
    net = CornerNet().eval()
    x = [to_tensor(im) for im in imgs]
    with torch.no_grad():
        logits = net(torch.stack(x)).numpy()
    p = predictions(logits, np.array(labels), names=("plain", "square"))
    return net, p, ImageSet(x)


def _run(findings, net, p, images, stats=None, mean=None, std=None):
    return run_interventions(
        findings,
        model=net,
        predictions=p,
        load=images,
        stats=stats,
        mean=mean,
        std=std,
        device=torch.device("cpu"),
        budget=intervention_forwards(len(p.labels), 0.1, spent=0),
        batch_size=16,
    )


def test_masking_a_learnt_corner_cue_restores_the_errors_and_the_control_region_does_not() -> None:
    """CornerNet errs on plain images with a top-left square: masking top-left restores them, other cells do not."""
    net, p, images = _corner_world("top-left")
    finding = _attention_finding(p, "top-left")
    outcome = _run([finding], net, p, images)
    r = outcome.results[0]
    assert r["status"] == "tested" and r["n"] == 12
    assert r["restored"] >= 0.9 and r["control_restored"] <= 0.1
    assert r["kept_correct"] >= 0.9
    assert outcome.forwards == r["forwards"] == 2 * 12 + 20
    (updated,) = apply_interventions([finding], outcome.results)
    assert updated.severity == "high" and updated.evidence["intervention"]["verdict"] == "confirmed"
    assert "turns 100% of these errors (12 tested) into plain" in updated.text
    # Before/after pictures as numbers for the media stage: the square is gone in the "after" picture.
    example = r["examples"][0]
    before, after = outcome.pictures[example["before"]].rgb, outcome.pictures[example["after"]].rgb
    assert before[:8, :8].mean() > 0.9 and after[:8, :8].mean() == pytest.approx(0.5)
    assert (example["pred_before"], example["pred_after"]) == ("square", "plain")


def test_a_region_the_decision_does_not_depend_on_restores_nothing_and_is_downgraded() -> None:
    """Attention on top-left by construction, but the square that decides sits bottom-right: low restored share."""
    net, p, images = _corner_world("bottom-right")
    finding = _attention_finding(p, "top-left")
    r = _run([finding], net, p, images).results[0]
    assert r["restored"] <= 0.1
    (updated,) = apply_interventions([finding], {0: r})
    assert updated.severity == "low" and updated.evidence["intervention"]["verdict"] == "none"
    assert "does not drive these errors" in updated.text


class RedNet(nn.Module):
    """``red`` (0) when the mean red channel exceeds 0.35, else ``blue`` (1): dark red images look blue."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = x[:, 0].flatten(1).mean(1)
        return torch.stack([20 * (r - 0.35), torch.zeros_like(r)], dim=1)


def _dark_world():
    rng = np.random.default_rng(3)
    imgs, labels = [], []
    for i in range(60):
        noise = rng.uniform(0.02, 0.2)
        img = np.clip(np.array([0.75, 0.4, 0.3]) + rng.normal(0, noise, (32, 32, 3)), 0, 1)
        if i < 20:
            img = img * 0.35  # the darkened third of the red class
        imgs.append(img)
        labels.append(0)
    for _ in range(60):
        imgs.append(np.clip(np.array([0.2, 0.4, 0.75]) + rng.normal(0, 0.1, (32, 32, 3)), 0, 1))
        labels.append(1)
    x = [to_tensor(im) for im in imgs]
    with torch.no_grad():
        logits = RedNet()(torch.stack(x)).numpy()
    p = predictions(logits, np.array(labels), names=("red", "blue"))
    raw = image_statistics(np.stack([im.transpose(2, 0, 1) for im in imgs]))
    sizes = np.full((len(imgs), 2), 32.0)
    stats = ImageStats.from_arrays(raw, sizes)
    return p, stats, ImageSet(x)


def test_brightening_a_darkened_slice_learnt_as_a_weakness_lowers_its_error_rate() -> None:
    """Dark red images look blue to RedNet: brightened to the class median they are red again; the rest stay right."""
    p, stats, images = _dark_world()
    slices = find_slices(p, stats, ())
    finding = property_slice.rule(inputs_for(p, slices=slices))
    assert finding is not None and (finding.evidence["property"], finding.evidence["direction"]) == (
        "brightness",
        "low",
    )
    outcome = _run([finding], RedNet(), p, images, stats=stats)
    r = outcome.results[0]
    assert r["status"] == "tested" and r["error_before"] == 1.0
    assert r["error_after"] <= 0.1
    assert r["control_error_before"] == r["control_error_after"] == 0.0
    (updated,) = apply_interventions([finding], outcome.results)
    assert updated.evidence["intervention"]["verdict"] == "confirmed" and updated.severity == finding.severity
    assert "brightened to the class median" in updated.text


def test_a_slice_whose_property_cannot_be_changed_says_so() -> None:
    """An aspect-ratio slice is not edited: the finding says why, and its severity stays."""
    p, stats, images = _dark_world()
    finding = property_slice.rule(inputs_for(p, slices=find_slices(p, stats, ())))
    odd = finding.__class__(**{**finding.__dict__, "evidence": {**finding.evidence, "property": "aspect ratio"}})
    r = _run([odd], RedNet(), p, images, stats=stats).results[0]
    assert r["status"] == "not run" and "aspect ratio cannot be changed" in r["reason"]
    (updated,) = apply_interventions([odd], {0: r})
    assert "Not tested by intervention" in updated.text and updated.severity == odd.severity


def test_a_zero_budget_runs_no_forward_and_says_so() -> None:
    """Budget 0 turns the step off: nothing is forwarded and the finding says it was not tested."""
    net, p, images = _corner_world("top-left")
    finding = _attention_finding(p, "top-left")
    outcome = run_interventions(
        [finding],
        model=net,
        predictions=p,
        load=images,
        stats=None,
        mean=None,
        std=None,
        device=torch.device("cpu"),
        budget=intervention_forwards(len(p.labels), 0.0, spent=0),
    )
    assert outcome.forwards == 0 and outcome.results[0]["status"] == "not run"


def test_neutralise_changes_only_the_region_and_fills_it_with_the_normalisation_mean() -> None:
    """In normalised space the mean colour is 0; pixels outside the mask keep their values exactly."""
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    x = torch.randn(2, 3, 30, 30)
    mask = region_mask("bottom-right", 30, 30)
    out = neutralise(x, mask, mean=mean, std=std)
    assert torch.allclose(out[:, :, mask], torch.zeros_like(out[:, :, mask]), atol=1e-6)
    assert torch.allclose(out[:, :, ~mask], x[:, :, ~mask], atol=1e-5)


@pytest.mark.parametrize("region", [*GRID_NAMES, "border"])
def test_control_regions_have_the_named_regions_size_and_do_not_overlap_it(region: str) -> None:
    """Every control region is as large as the region it controls for (to a pixel row) and lies elsewhere."""
    from confusion_report.interventions.region import control_regions

    named = region_mask(region, 32, 32)
    for name in control_regions(region):
        other = control_mask(name, 32, 32)
        assert abs(int(other.sum()) - int(named.sum())) <= 32
        assert region == "border" or not (other & named).any()


@pytest.mark.parametrize("prop", ["brightness", "contrast", "saturation", "sharpness"])
def test_fitted_edits_bring_each_image_close_to_the_target_value(prop: str) -> None:
    """The strength search lands each image's measured property near the target (clipping included)."""
    rng = np.random.default_rng(0)
    u = torch.from_numpy(rng.uniform(0.1, 0.6, (6, 3, 16, 16)).astype(np.float32))
    u = u * torch.linspace(0.3, 1.0, 6).view(6, 1, 1, 1)
    target = float(measure(prop, u).median())
    s = fit_strengths(prop, u, target)
    got = measure(prop, edit(prop, u, torch.as_tensor(s))).numpy()
    assert np.allclose(got, target, rtol=0.15)


def test_the_report_shows_before_and_after_pictures_and_says_when_a_finding_was_not_tested(
    colour_net, colour_folder, tmp_path
) -> None:
    """A tested finding shows its bars and before/after figures; one from results without the model says so."""
    import dataclasses

    from confusion_report import build
    from confusion_report.render.html import render_html
    from confusion_report.results import Finding

    data = build(colour_net, colour_folder, out=None, progress=False, preset="none", explain=(), projection="pca")
    evidence = {"region": "top-left", "error_share": 0.6, "correct_share": 0.1}
    tested = {
        "status": "tested",
        "action": "the top-left corner filled with mid grey",
        "n": 9,
        "restored": 0.8,
        "control_restored": 0.1,
        "kept_correct": 0.9,
        "n_correct": 9,
        "p_value": 0.001,
        "examples": [
            {
                "path": "red/x.png",
                "before": "iv:0:0:before",
                "after": "iv:0:0:after",
                "pred_before": "green",
                "pred_after": "red",
            }
        ],
    }
    findings = (
        Finding("attention_region", "high", "tested one", "t", ("red", "green"), {**evidence, "intervention": tested}),
        Finding("attention_region", "high", "untested one", "t", ("blue", "red"), evidence),
    )
    uris = {"iv:0:0:before": "data:image/webp;base64,QkVGT1JF", "iv:0:0:after": "data:image/webp;base64,QUZURVI="}
    html = render_html(dataclasses.replace(data, findings=findings, media={**data.media, **uris}))
    assert html.count("f-intervention") == 2
    assert "QkVGT1JF" in html and "QUZURVI=" in html and "after: <b>red</b>" in html
    assert "control region: restored" in html
    assert "Not tested by intervention: these results came without a model to re-run." in html
