"""Attention evidence from region occlusion for models without hooks (TorchScript): attention_region can fire."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from confusion_report.analyses.occlusion_attention import region_masks, sample_pairs, shares_from_drops
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions
from confusion_report.data import load_rgb
from confusion_report.explain.occlusion_attention import FORWARDS_PER_IMAGE, occlusion_attention
from confusion_report.findings import run_rules
from confusion_report.loading import LoadedModel
from findings_builders import inputs_for
from why_builders import CornerNet, save, square_image, to_tensor


def test_region_masks_cover_the_grid_exactly_once_and_the_ring_is_the_outer_eighth() -> None:
    """The nine cells partition the image; the ring is the outer 4 px of a 32 px side."""
    masks = region_masks(32, 32)
    assert masks.shape == (10, 32, 32)
    assert np.array_equal(masks[:9].sum(axis=0), np.ones((32, 32)))
    assert masks[0, 0, 0] and masks[8, 31, 31] and masks[4, 16, 16]
    assert masks[9, 3, 16] and not masks[9, 4, 16] and masks[9].sum() == 32 * 32 - 24 * 24


def test_shares_keep_only_drops_and_fall_back_to_uniform() -> None:
    """A logit that rises when a cell is hidden is no evidence; no drop at all gives a uniform map."""
    drops = np.zeros((2, 10))
    drops[0, 0], drops[0, 4], drops[0, 9] = 3.0, -5.0, 1.5
    cells, border = shares_from_drops(drops)
    assert cells[0, 0] == 1.0 and cells[0].sum() == pytest.approx(1.0)
    assert border[0] == pytest.approx(0.5)
    assert np.allclose(cells[1], 1 / 9) and border[1] == 0.0


def _cue_folder(root: Path) -> Path:
    """plain/ (dim), square/ (a bright square bottom-right) and 12 plain images with a top-left square."""
    seed = 0
    for i in range(30):
        save(square_image(square=False, seed=(seed := seed + 1)), root / "plain" / f"p{i:02d}.png")
        square = square_image(square=True, corner="bottom-right", seed=(seed := seed + 1))
        save(square, root / "square" / f"s{i:02d}.png")
    for i in range(12):
        save(square_image(square=True, seed=(seed := seed + 1)), root / "plain" / f"cue{i:02d}.png")
    return root


def _predict(model: torch.nn.Module, root: Path) -> Predictions:
    paths = sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))
    names = ("plain", "square")
    labels = np.array([names.index(p.split("/")[0]) for p in paths])
    x = torch.stack([to_tensor(np.asarray(load_rgb(root / p)[0], dtype=np.float32) / 255) for p in paths])
    with torch.no_grad():
        logits = model(x).numpy()
    return Predictions(names, tuple(paths), labels, logits)


def test_occlusion_finds_a_corner_cue_of_a_torchscript_model(tmp_path: Path) -> None:
    """Plain images carrying a top-left square become 'square' (whose own images have it bottom-right):
    occlusion on a scripted model (no hooks) names the top-left corner."""
    root = _cue_folder(tmp_path / "data")
    scripted = torch.jit.script(CornerNet().eval())
    loaded = LoadedModel(module=scripted, format="torchscript", path="m.ts", hookable=False)
    p = _predict(scripted, root)
    pairs = rank_pairs(p)
    assert (pairs[0].true, pairs[0].pred, pairs[0].count) == ("plain", "square", 12)

    def tf(img):
        return to_tensor(np.asarray(img, dtype=np.float32) / 255)

    inputs, note, forwards = occlusion_attention(
        loaded, p, pairs, root=root, transform=tf, device=torch.device("cpu"), top_pairs=3, budget=5.0
    )
    assert "occlusion" in note and len(inputs) == 1
    assert forwards == 24 * FORWARDS_PER_IMAGE  # 12 errors and 12 correct images, each clean + 10 regions
    assert len(inputs[0].error_cells) == 12 and len(inputs[0].correct_cells) == 12
    f = {f.kind: f for f in run_rules(inputs_for(p, attention=inputs))}["attention_region"]
    assert f.evidence["region"] == "top-left" and f.classes == ("plain", "square")


def test_the_budget_bounds_the_sample_and_a_too_small_budget_skips_the_pair() -> None:
    """At most budget x images / 11 images are occluded; below the rule's minimums no pair is sampled."""
    names = ("a", "b")
    labels = np.repeat([0, 1], 100)
    logits = np.zeros((200, 2), np.float32)
    logits[np.arange(200), labels] = 2.0
    logits[:30, 1] = 5.0  # 30 errors a -> b
    p = Predictions(names, tuple(f"{names[y]}/{i}.png" for i, y in enumerate(labels)), labels, logits)
    pairs = rank_pairs(p)
    samples = sample_pairs(p, pairs, top_pairs=3, max_images=20)
    assert len(samples) == 1 and len(samples[0].errors) + len(samples[0].correct) <= 20
    assert len(samples[0].correct) >= 10 and len(samples[0].errors) >= 5
    assert sample_pairs(p, pairs, top_pairs=3, max_images=14) == []


def test_a_model_with_a_fixed_batch_of_one_gets_its_variants_one_at_a_time() -> None:
    """batch_size=1 (a static export) forwards each occluded variant alone, with the same drops as a batch."""
    from confusion_report.explain.occlusion_attention import region_drops

    class OneAtATime(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] != 1:
                raise RuntimeError("this model was exported for a batch of one")
            return torch.stack([x[:, :, :4, :4].mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3))], dim=1)

    x = torch.rand(3, 3, 12, 12)
    targets = torch.tensor([0, 1, 0])
    alone = region_drops(OneAtATime(), x, targets, batch_size=1)

    class Batched(torch.nn.Module):
        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return torch.cat([OneAtATime()(row[None]) for row in v])

    assert np.allclose(alone, region_drops(Batched(), x, targets, batch_size=256), atol=1e-6)
    assert alone[0, 0] > 0 and alone[0, 8] == pytest.approx(0.0, abs=1e-6)  # the corner logit only sees the corner
