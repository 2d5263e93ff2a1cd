"""Preprocessing presets, overrides and the transform they build."""

from __future__ import annotations

import pytest
import torch

from builders import colour_image
from confusion_report.errors import ReportError
from confusion_report.preprocess import IMAGENET_MEAN, build_transform, parse_floats, resolve_preprocessing


def test_imagenet_preset_resizes_crops_and_normalises() -> None:
    """The default preset is the torchvision ImageNet recipe, and says so step by step."""
    info = resolve_preprocessing()
    assert (info.resize, info.crop, info.mean) == (256, 224, IMAGENET_MEAN)
    assert any("center crop 224x224" in s for s in info.steps)
    x = build_transform(info)(colour_image((1, 0, 0), size=300))
    assert x.shape == (3, 224, 224)
    assert x[0].mean() > 1.5 and x[2].mean() < -1.0  # red channel far above the ImageNet mean


def test_overrides_win_and_zero_turns_a_step_off() -> None:
    """--resize/--crop/--mean/--std override the preset; 0 disables resize or crop."""
    info = resolve_preprocessing(preset="cifar", resize=0, crop=0, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert (info.resize, info.crop) == (None, None)
    x = build_transform(info)(colour_image((0.5, 0.5, 0.5), size=20, noise=0))
    assert x.shape == (3, 20, 20)
    assert torch.allclose(x, torch.zeros_like(x), atol=0.02)


def test_none_preset_is_a_plain_tensor() -> None:
    """`none` keeps size and [0, 1] range."""
    info = resolve_preprocessing(preset="none")
    assert info.steps[-1].startswith("to tensor")
    x = build_transform(info)(colour_image((1, 1, 1), size=12, noise=0))
    assert x.shape == (3, 12, 12) and float(x.max()) == 1.0


@pytest.mark.parametrize(("text", "expected"), [("0.5", (0.5, 0.5, 0.5)), ("1,2,3", (1.0, 2.0, 3.0)), (None, None)])
def test_parse_floats(text: str | None, expected: tuple | None) -> None:
    """One value is repeated for three channels."""
    assert parse_floats(text, option="--mean") == expected


@pytest.mark.parametrize("text", ["a,b,c", "1,2"])
def test_parse_floats_rejects_bad_lists(text: str) -> None:
    """Non-numbers and two values are errors naming the option."""
    with pytest.raises(ReportError, match="--std"):
        parse_floats(text, option="--std")


def test_unknown_preset_and_bad_std_are_errors() -> None:
    """A preset name typo and a zero std are caught before any image is read."""
    with pytest.raises(ReportError, match="unknown preset"):
        resolve_preprocessing(preset="imagenett")
    with pytest.raises(ReportError, match="positive"):
        resolve_preprocessing(std=(0.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("preset", "size"), [("imagenet", (300, 260)), ("imagenet", (224, 256)), ("cifar", (32, 32)), ("cifar", (40, 36))]
)
def test_transform_equals_torchvisions_v2_steps(preset: str, size: tuple[int, int]) -> None:
    """The pass's transform (skipped no-op resizes, one-pass normalisation) gives v2's tensor within rounding."""
    import numpy as np
    from PIL import Image
    from torchvision.transforms import v2

    from confusion_report.preprocess import resize_step

    info = resolve_preprocessing(preset=preset)
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    steps = [resize_step(info), v2.CenterCrop(info.crop), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    reference = v2.Compose([*steps, v2.Normalize(list(info.mean), list(info.std))])
    ours = build_transform(info)(img)
    assert ours.shape == reference(img).shape and ours.is_contiguous()
    assert torch.allclose(ours, reference(img), atol=2e-6)
    gray = img.convert("L")  # not RGB: through v2's own steps
    assert torch.equal(build_transform(info)(gray), reference(gray))
