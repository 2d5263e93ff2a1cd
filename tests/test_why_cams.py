"""Grad-CAM inside the one pass and the attention statistics computed from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from confusion_report.analyses.attention import attention_stats, compute_attention, grid_shares, normalise_maps
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions
from confusion_report.collectors.cams import CamCollector
from confusion_report.engine import run_pass
from confusion_report.layers import find_stages, find_target_layer, trace_shapes
from confusion_report.loading import LoadedModel
from why_builders import CornerNet, StagedNet, make_corner_folder, square_image, to_tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_target_layer_is_the_last_spatial_module_before_pooling() -> None:
    """CornerNet's 8x8 ``features`` block is chosen, not its inner conv nor the 1x1 global pool."""
    shapes = trace_shapes(CornerNet().eval(), to_tensor(square_image(square=True)))
    assert find_target_layer(shapes) == "features"
    assert shapes.shapes["features"][2:] == (8, 8)


def test_stages_are_the_containers_before_the_target() -> None:
    """StagedNet's stages are its two Sequential blocks, in order."""
    model = StagedNet().eval()
    shapes = trace_shapes(model, torch.rand(3, 8, 8))
    target = find_target_layer(shapes)
    assert target == "stage2"
    assert find_stages(model, shapes, target) == ("stage1", "stage2")


def _corner_pass(tmp_path: Path):
    root = make_corner_folder(tmp_path / "data")
    paths = sorted(root.rglob("*.png"))
    names = ("plain", "square")
    labels = np.array([names.index(p.parent.name) for p in paths])
    model = CornerNet().eval()
    cam = CamCollector(model.features)
    arrays = run_pass(
        LoadedModel(model, "module", "CornerNet", hookable=True),
        paths,
        to_tensor_transform,
        num_outputs=2,
        device=torch.device("cpu"),
        labels=labels,
        batch_size=4,
        collectors=[cam],
        progress=False,
    )
    preds = Predictions(
        names=names,
        paths=tuple(p.relative_to(root).as_posix() for p in paths),
        labels=labels,
        logits=arrays.logits,
    )
    return preds, arrays


def to_tensor_transform(img) -> torch.Tensor:
    """PIL RGB -> tensor in 0..1, no normalisation."""
    return to_tensor(np.asarray(img, dtype=np.float32) / 255.0)


def test_pass_cam_of_square_class_puts_its_mass_in_the_square_corner(tmp_path: Path) -> None:
    """For every image predicted 'square', the in-pass CAM of that class peaks in the top-left cell."""
    preds, arrays = _corner_pass(tmp_path)
    cams = arrays.extras["cams"]
    assert cams.dtype == np.float16 and cams.shape[1:] == (2, 7, 7)
    squares = np.flatnonzero(preds.preds == 1)
    assert len(squares) == 8 + 3  # the square images and the planted plain images that carry the square
    for i in squares:
        shares = grid_shares(normalise_maps(cams[i, 0]))
        assert shares["top-left"] > 0.8, shares


def test_cam_backward_stops_at_the_target_layer() -> None:
    """The logits' graph starts at the target layer: nothing before it (here the input) is reachable."""
    model = CornerNet().eval()
    model.requires_grad_(False)
    cam = CamCollector(model.features)
    cam.attach(model, 1)
    x = to_tensor(square_image(square=True))[None].requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        cam.after_forward(np.array([0]), x, out, torch.tensor([1]))
        (reach,) = torch.autograd.grad(out[:, 1].sum(), x, allow_unused=True)
    cam.detach()
    assert reach is None
    assert cam.result(np.array([0]))["cams"][0, 0].max() == 1.0


def test_pair_attention_of_errors_points_at_the_planted_corner(tmp_path: Path) -> None:
    """The plain -> square errors carry the square: their mean CAM for 'square' peaks top-left."""
    preds, arrays = _corner_pass(tmp_path)
    pairs = rank_pairs(preds)
    assert (pairs[0].true, pairs[0].pred, pairs[0].count) == ("plain", "square", 3)
    result = compute_attention(preds, arrays.extras["cams"], pairs, layer="features", top_pairs=1)
    maps = {m.group: m for m in result.pairs[0].maps}
    assert maps["errors_pred"].stats.peak == "top-left"
    assert maps["errors_pred"].stats.n == 3
    assert result.classes[1].attention.stats.peak == "top-left"


def test_grid_shares_split_a_map_exactly_into_nine_named_cells() -> None:
    """A 7x7 map's thirds fall between cells; shares sum to 1 and a corner cell lands top-left or bottom-right."""
    dist = np.zeros((7, 7))
    dist[0, 0] = 1.0
    assert grid_shares(dist)["top-left"] == pytest.approx(1.0)
    dist = np.full((7, 7), 1 / 49)
    shares = grid_shares(dist)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["center"] == pytest.approx(1 / 9)
    dist = np.zeros((7, 7))
    dist[6, 6] = 1.0
    stats = attention_stats(dist, n=1)
    assert stats.peak == "bottom-right" and stats.border_share == 1.0 and stats.entropy == 0.0


def test_a_trailing_spatial_pool_is_not_the_target_layer() -> None:
    """VGG-style: an AdaptiveAvgPool2d(2) after the features keeps a 2x2 output, yet the features are chosen."""
    model = torch.nn.Sequential()
    model.add_module("features", torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()))
    model.add_module("avgpool", torch.nn.AdaptiveAvgPool2d(2))
    model.add_module("head", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)))
    shapes = trace_shapes(model.eval(), torch.rand(3, 8, 8))
    assert find_target_layer(shapes) == "avgpool"
    assert find_target_layer(shapes, model) == "features"


def test_target_layer_option_overrides_and_rejects_non_spatial_layers() -> None:
    """--target-layer picks any 4-D layer; a layer with a 2-D output is refused with its name."""
    from confusion_report.config import BuildConfig
    from confusion_report.errors import ReportError
    from confusion_report.why import plan_why

    loaded = LoadedModel(CornerNet().eval(), "module", "CornerNet", hookable=True)
    sample = to_tensor(square_image(square=True))
    plan = plan_why(loaded, sample, BuildConfig(target_layer="features.0"))
    assert plan.target_layer == "features.0"
    with pytest.raises(ReportError, match="fc"):
        plan_why(loaded, sample, BuildConfig(target_layer="fc"))


def test_cams_under_autocast_are_combined_in_fp32_and_still_find_the_corner() -> None:
    """With a bf16 autocast forward (as on a GPU), the CAM still lands top-left and is finite."""
    model = CornerNet().eval().requires_grad_(False)
    cam = CamCollector(model.features)
    cam.attach(model, 2)
    x = torch.stack([to_tensor(square_image(square=True, seed=s)) for s in range(2)])
    with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16
    with torch.enable_grad():
        cam.after_forward(np.arange(2), x, out, torch.tensor([1, 1]))
    cam.detach()
    cams = cam.result(np.arange(2))["cams"]
    assert np.isfinite(cams.astype(np.float32)).all()
    assert all(grid_shares(normalise_maps(c[0]))["top-left"] > 0.8 for c in cams)
