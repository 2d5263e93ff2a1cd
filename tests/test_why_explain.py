"""Gallery overlays on models whose evidence is known by construction: Grad-CAM, contrastive, occlusion, LIME/SHAP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from confusion_report.analyses.attention import grid_shares
from confusion_report.collectors.cams import CamCollector
from confusion_report.explain.gradcam import LogitDifference, cam_maps, class_target, pair_maps_from_pass
from confusion_report.explain.occlusion import default_window, occlusion_maps, plan_occlusion, window_starts
from confusion_report.explain.run import budget_forwards, parse_methods
from confusion_report.explain.surrogate import superpixels, surrogate_map
from confusion_report.outputs import logits_module
from why_builders import SIDE, CornerNet, TwoSquareNet, make_corner_folder, square_image, to_tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _share(heat: np.ndarray, cell: str) -> float:
    pos = np.clip(heat, 0, None)
    return grid_shares(pos / pos.sum())[cell]


def test_gradcam_overlay_of_square_class_lies_in_the_square_corner() -> None:
    """pytorch-grad-cam's map for the 'square' logit has its mass in the top-left cell."""
    model = CornerNet().eval().requires_grad_(False)
    x = torch.stack([to_tensor(square_image(square=True, seed=s)) for s in range(3)])
    maps = cam_maps(model, model.features, x, [class_target(1)] * 3)
    assert maps.shape == (3, SIDE, SIDE)
    assert not model.features._forward_hooks  # the library's hooks are released
    for heat in maps:
        assert _share(heat, "top-left") > 0.8


def test_occlusion_mass_lies_in_the_square_corner() -> None:
    """Hiding the square (and only the square) lowers the 'square' logit."""
    model = CornerNet().eval()
    x = torch.stack([to_tensor(square_image(square=True, corner=c)) for c in ("top-left", "bottom-right")])
    window, stride = default_window(SIDE)
    heat = occlusion_maps(model, x, torch.tensor([1, 1]), window=window, stride=stride, batch_size=32)
    assert heat.shape == (2, SIDE, SIDE)
    assert _share(heat[0], "top-left") > 0.8
    assert _share(heat[1], "bottom-right") > 0.8


def test_contrastive_map_points_at_the_feature_that_separates_the_two_classes() -> None:
    """Both classes see the red top-left square; only 'redblue' sees the blue bottom-right one, so the
    map of logit(redblue) - logit(red) lies bottom-right while CAM(red) lies top-left."""
    model = TwoSquareNet().eval().requires_grad_(False)
    img = square_image(square=True, colour=(0.95, 0.1, 0.1))
    img[-8:, -8:] = (0.1, 0.1, 0.95)
    x = to_tensor(img)[None]
    assert model(x).argmax(1).item() == 1
    (contrast,) = cam_maps(model, model.features, x, [LogitDifference(1, 0)])
    (red,) = cam_maps(model, model.features, x, [class_target(0)])
    assert _share(contrast, "bottom-right") > 0.8
    assert _share(red, "top-left") > 0.8


class RandomNet(torch.nn.Module):
    """A seeded random CNN whose head is not linear in the target layer's output (gradients vary in space)."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, stride=4, padding=1)
        )
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.features(x)).mean(dim=(2, 3)))


def test_gallery_cams_from_the_pass_equal_pytorch_grad_cam() -> None:
    """CAM(true), CAM(pred) and the contrastive map derived from the pass's stored maps match pytorch-grad-cam's
    GradCAM on the same layer and targets (ClassifierOutputTarget, LogitDifference), image by image."""
    model = RandomNet().eval().requires_grad_(False)
    x = torch.rand(6, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    collector = CamCollector(model.features)
    with collector.attached(model, len(x)), torch.enable_grad():
        logits = model(x)
        collector.after_forward(np.arange(len(x)), x, logits, labels)
    arrays = collector.result(np.arange(len(x)))
    assert arrays["cam_pre"].shape == (6, 2, 8, 8)
    true_map, pred_map, contrast = pair_maps_from_pass(arrays["cam_pre"], arrays["cam_pre_scale"], size=(SIDE, SIDE))
    pred = logits.argmax(1).tolist()
    assert pred != labels.tolist()  # some errors, so that the contrastive map is not trivially zero
    expected_true = cam_maps(model, model.features, x, [class_target(int(t)) for t in labels])
    expected_pred = cam_maps(model, model.features, x, [class_target(p) for p in pred])
    expected_contrast = cam_maps(
        model, model.features, x, [LogitDifference(p, int(t)) for p, t in zip(pred, labels, strict=True)]
    )
    np.testing.assert_allclose(true_map, expected_true, atol=0.02)
    np.testing.assert_allclose(pred_map, expected_pred, atol=0.02)
    wrong = [k for k in range(len(x)) if pred[k] != int(labels[k])]
    np.testing.assert_allclose(contrast[wrong], expected_contrast[wrong], atol=0.02)


def test_occlusion_with_the_pass_logits_equals_occlusion_with_its_own_forward() -> None:
    """Clean logits handed in from the pass give the same map as computing them, batched across images."""
    model = RandomNet().eval()
    x = torch.rand(3, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([1, 2, 3])
    clean = model(x).detach().gather(1, targets[:, None])[:, 0]
    own = occlusion_maps(model, x, targets, window=6, stride=5, batch_size=7)
    reused = occlusion_maps(model, x, targets, window=6, stride=5, clean=clean, batch_size=64)
    np.testing.assert_allclose(own, reused, rtol=1e-4, atol=1e-5)
    assert window_starts(SIDE, 6, 5)[-1] == SIDE - 6  # the last window ends at the edge: every pixel covered


def test_occlusion_plan_stays_within_the_budget_and_covers_each_pair_first() -> None:
    """The finest grid at which one error per pair fits is chosen; the rest of the budget covers more errors."""
    order = list(range(20))
    plan = plan_occlusion(224, order, leads=6, budget=200)
    assert plan.forwards <= 200 and plan.positions * len(plan.images) == plan.forwards
    assert plan.images[:6] == (0, 1, 2, 3, 4, 5) and plan.positions == 25  # 6 x 36 > 200 >= 6 x 25
    rich = plan_occlusion(224, order, leads=6, budget=20 * 169)
    assert rich.positions == 169 and len(rich.images) == 20
    assert plan_occlusion(224, order, leads=6, budget=8).images == ()
    fixed = plan_occlusion(224, order, leads=6, budget=100, window=56, stride=56)
    assert fixed.positions == 16 and len(fixed.images) == 6


def test_overlays_get_half_of_the_explain_budget_with_a_small_floor() -> None:
    """10% of 4,000 images is 400 forwards, the overlays 200; 50 images still get the floor of 100."""
    assert budget_forwards(4000, 0.1) == 200
    assert budget_forwards(50, 0.1) == 100
    assert budget_forwards(10_000, 0.5) == 2500


def test_interventions_get_what_the_overlays_left_of_one_allowance() -> None:
    """Overlays, attention by occlusion and interventions spend one total: 10% of 10,000 images is 1,000
    forwards; after 480 spent the interventions get 520, never under their floor, and nothing at a share of 0."""
    from confusion_report.forward_budget import INTERVENTION_FLOOR, attention_share, intervention_forwards

    assert intervention_forwards(10_000, 0.1, spent=480) == 520
    assert intervention_forwards(10_000, 0.1, spent=990) == INTERVENTION_FLOOR
    assert intervention_forwards(10_000, 0.0, spent=0) == 0
    assert attention_share(0.1) == pytest.approx(0.025)


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_surrogate_weights_the_square_superpixels_highest(method: str) -> None:
    """LIME and KernelSHAP over a grid of superpixels give the square's cells the top weight."""
    model = CornerNet().eval()
    img = square_image(square=True)
    grid = superpixels(np.zeros_like(img))  # a flat image: SLIC finds nothing, so the grid fallback is used
    assert grid.max() >= 3
    heat = surrogate_map(model, to_tensor(img), 1, grid, method=method, n_samples=80)
    assert np.unravel_index(np.argmax(heat), heat.shape)[0] < 8
    assert np.unravel_index(np.argmax(heat), heat.shape)[1] < 8


def test_explain_methods_parse_and_reject_unknown_names() -> None:
    """'all', 'none' and lists parse; an unknown method is an error naming it."""
    assert parse_methods("all") == ("gradcam", "occlusion", "lime", "shap")
    assert parse_methods("none") == ()
    assert parse_methods("occlusion, gradcam") == ("occlusion", "gradcam")
    with pytest.raises(ValueError, match="saliency"):
        parse_methods("gradcam,saliency")


def test_logits_module_takes_the_first_output_of_a_tuple() -> None:
    """Explainers get plain logits from a model returning (logits, aux)."""

    class Aux(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3)), "aux"

    assert logits_module(Aux())(torch.ones(1, 3, 4, 4)).shape == (1, 3)


def _build(model_or_path, data: Path, tmp_path: Path, **options):
    from confusion_report import build

    return build(
        model_or_path,
        data,
        out=tmp_path / "r.html",
        json_path=tmp_path / "r.json",
        preset="none",
        workers=0,
        progress=False,
        **options,
    )


def test_build_report_shows_overlays_attention_and_separation(tmp_path: Path) -> None:
    """End to end: the plain -> square pair gets CAM, contrastive and occlusion overlays, its attention
    maps and a separation chart; the JSON round-trips them."""
    from confusion_report.results import ReportData
    from confusion_report.serde import to_jsonable

    data = make_corner_folder(tmp_path / "data")
    result = _build(CornerNet().eval(), data, tmp_path)
    assert result.model.target_layer == "features"
    (xp,) = result.explain.pairs
    assert xp.columns == ("CAM plain", "CAM square", "square − plain", "occlusion")
    assert all(key in result.media for img in xp.images for key in img.overlays.values())
    assert result.attention.pairs[0].maps[0].stats.peak == "top-left"
    # the embedding (input of fc) is the pooled "features" output: not repeated as a stage
    assert result.separation.stages == ("features.0", "features.1", "features")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="why-pair-plain-square"' in html and '<svg class="separation"' in html
    again = ReportData.from_json((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert to_jsonable(again.attention) == to_jsonable(result.attention)  # floats travel with 6 digits
    assert again.explain.pairs == result.explain.pairs
    assert to_jsonable(again.separation) == to_jsonable(result.separation)
    # the errors' CAMs come from the pass; the extra forwards stay within the budget
    assert result.explain.cam_source == "pass"
    costs = {c.method: c.forwards for c in result.explain.costs}
    assert sum(costs.values()) <= result.explain.budget_forwards
    assert costs["gradcam"] == 4  # the typical images only: the errors' maps cost nothing
    # 93 forwards are left for occlusion: the finest grid that fits one error is 6 x 6, so two of three errors
    assert (result.explain.occlusion_positions, result.explain.occluded_errors, result.explain.gallery_errors) == (
        36,
        2,
        3,
    )
    assert 'id="explain-budget"' in html and "Occlusion covered 2 of the 3 gallery errors" in html


def test_torchscript_model_falls_back_to_occlusion_and_says_so(tmp_path: Path) -> None:
    """TorchScript takes no hooks: no CAMs, the overlays are occlusion only, and the report tells why."""
    data = make_corner_folder(tmp_path / "data")
    path = tmp_path / "corner.ts"
    torch.jit.save(torch.jit.script(CornerNet().eval()), str(path))
    result = _build(path, data, tmp_path)
    assert result.attention is None
    assert result.explain.methods == ("occlusion",)
    assert any("cannot be hooked" in note for note in result.explain.notes)
    assert "cannot be hooked" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_exported_pt2_model_gets_cams_through_unflatten(tmp_path: Path) -> None:
    """A torch.export program is hooked through unflatten: the in-pass CAMs still find the square."""
    data = make_corner_folder(tmp_path / "data")
    path = tmp_path / "corner.pt2"
    example = torch.stack([to_tensor(square_image(square=True, seed=s)) for s in range(2)])  # batch 1 specialises
    dim = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(CornerNet().eval(), (example,), dynamic_shapes=({0: dim},)), str(path))
    result = _build(path, data, tmp_path, explain=("gradcam",))
    assert result.model.format == "export"
    assert result.attention is not None and result.attention.pairs[0].maps[0].stats.peak == "top-left"
    assert result.explain.methods == ("gradcam",)
