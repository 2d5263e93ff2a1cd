"""Preprocessing presets and the transform that turns a decoded RGB image into the model's input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import ReportError
from .preprocess_sources import PresetSpec, hf_preset, timm_preset, torchvision_preset
from .results import PreprocessInfo

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

# preset -> (resize, crop, mean, std)
PRESETS: dict[str, tuple[int | None, int | None, tuple[float, ...] | None, tuple[float, ...] | None]] = {
    "imagenet": (256, 224, IMAGENET_MEAN, IMAGENET_STD),
    "cifar": (32, 32, CIFAR_MEAN, CIFAR_STD),
    "none": (None, None, None, None),
}


def parse_floats(text: str | None, *, option: str) -> tuple[float, ...] | None:
    """Parse ``"0.485,0.456,0.406"``; one value is repeated for the three channels."""
    if text is None or text == "":
        return None
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ReportError(f"{option} expects comma-separated numbers, got {text!r}") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise ReportError(f"{option} expects 1 or 3 numbers, got {len(values)}")
    return values


def preset_spec(preset: str) -> PresetSpec:
    """A preset by name: ``imagenet``, ``cifar``, ``none``, ``torchvision:WEIGHTS`` (e.g.
    ``ResNet50_Weights.IMAGENET1K_V2``), ``timm:MODEL`` or ``hf:FOLDER`` (its preprocessor_config.json)."""
    kind, _, name = preset.partition(":")
    if kind == "torchvision" and name:
        return torchvision_preset(name)
    if kind == "timm" and name:
        return timm_preset(name)
    if kind == "hf" and name:
        spec = hf_preset(Path(name))
        if spec is None:
            raise ReportError(f"--preset {preset}: no preprocessor_config.json in {name}")
        return spec
    if preset not in PRESETS:
        raise ReportError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}, torchvision:WEIGHTS, timm:MODEL or hf:DIR"
        )
    return PresetSpec(preset, *PRESETS[preset])


def resolve_preprocessing(
    *,
    preset: str | PresetSpec = "imagenet",
    resize: int | None = None,
    crop: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> PreprocessInfo:
    """Start from a preset (a name or a model's own :class:`PresetSpec`) and apply the explicit overrides;
    ``0`` turns resize or crop off."""
    spec = preset if isinstance(preset, PresetSpec) else preset_spec(preset)
    preset = spec.name
    p_resize, p_crop, p_mean, p_std = spec.resize, spec.crop, spec.mean, spec.std
    resize_to = spec.resize_to if resize is None else None  # an explicit --resize replaces the exact size
    resize = p_resize if resize is None else (resize or None)
    crop = p_crop if crop is None else (crop or None)
    mean = tuple(mean) if mean is not None else p_mean
    std = tuple(std) if std is not None else p_std
    if (mean is None) != (std is None):
        # A mean without a std (or the reverse) is almost always a mistake; make the other neutral.
        mean = mean or (0.0, 0.0, 0.0)
        std = std or (1.0, 1.0, 1.0)
    if std is not None and any(s <= 0 for s in std):
        raise ReportError("--std values must be positive")
    steps = ["decode to RGB (grayscale, alpha, palette and 16-bit images converted)"]
    if resize_to:
        steps.append(f"resize to {resize_to[0]}x{resize_to[1]} px ({spec.interpolation}, antialiased)")
    elif resize:
        steps.append(f"resize shorter side to {resize} px ({spec.interpolation}, antialiased)")
    if crop:
        steps.append(f"center crop {crop}x{crop}")
    steps.append("to tensor, scaled to [0, 1]")
    if mean is not None and std is not None:
        steps.append(
            "normalize mean=(" + ", ".join(f"{m:g}" for m in mean) + ") std=(" + ", ".join(f"{s:g}" for s in std) + ")"
        )
    return PreprocessInfo(
        preset=preset,
        resize=resize,
        crop=crop,
        mean=mean,
        std=std,
        steps=tuple(steps),
        interpolation=spec.interpolation,
        resize_to=resize_to,
    )


def resize_step(info: PreprocessInfo):
    """The torchvision v2 resize of a pipeline (exact size or shorter side, its interpolation), or None."""
    from torchvision.transforms import v2

    mode = v2.InterpolationMode(info.interpolation)
    if info.resize_to:
        return v2.Resize(list(info.resize_to), interpolation=mode, antialias=True)
    if info.resize:
        return v2.Resize(info.resize, interpolation=mode, antialias=True)
    return None


def build_transform(info: PreprocessInfo) -> Callable:
    """The torchvision transform for a resolved pipeline (PIL RGB image -> float tensor CxHxW).

    torchvision's v2 steps, with two shortcuts for the pass's data loader workers, whose time the
    model's forward shares on a small machine: a resize or crop to the size an image already has is
    skipped (CIFAR's 32-px images through the cifar preset), and uint8 -> float, scaling and
    normalisation are one pass (:class:`ToNormalisedTensor`). Outputs equal v2's within float rounding.
    """
    import torch
    from torchvision.transforms import v2

    steps: list = []
    if resize_step(info) is not None:
        steps.append(SkipWhenSized(resize_step(info), _resized_already(info)))
    if info.crop:
        steps.append(SkipWhenSized(v2.CenterCrop(info.crop), lambda w, h: (w, h) == (info.crop, info.crop)))
    fallback = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if info.mean is not None and info.std is not None:
        fallback.append(v2.Normalize(list(info.mean), list(info.std)))
    steps.append(ToNormalisedTensor(info.mean, info.std, fallback=v2.Compose(fallback)))
    return v2.Compose(steps)


def _resized_already(info: PreprocessInfo) -> Callable[[int, int], bool]:
    """Whether an image of width x height comes out of :func:`resize_step` unchanged."""
    if info.resize_to:
        return lambda w, h: (h, w) == tuple(info.resize_to)
    return lambda w, h: min(w, h) == info.resize


class SkipWhenSized:
    """A geometric step left out for a PIL image that already has the size it would produce."""

    def __init__(self, step: Callable, sized: Callable[[int, int], bool]) -> None:
        self.step, self.sized = step, sized

    def __call__(self, img):
        from PIL import Image

        if isinstance(img, Image.Image) and self.sized(*img.size):
            return img
        return self.step(img)

    def __repr__(self) -> str:
        return f"SkipWhenSized({self.step!r})"


class ToNormalisedTensor:
    """PIL RGB image -> float32 C x H x W: scaled to 0..1 and normalised with ``mean``/``std`` in one
    multiply-add per channel (v2's ToImage + ToDtype + Normalize: 0.11 -> 0.03 ms per 32-px image).
    Anything but an 8-bit RGB PIL image goes through ``fallback``."""

    def __init__(self, mean: Sequence[float] | None, std: Sequence[float] | None, *, fallback: Callable) -> None:
        import torch

        m = torch.tensor(mean if mean is not None else (0.0, 0.0, 0.0), dtype=torch.float32).view(3, 1, 1)
        s = torch.tensor(std if std is not None else (1.0, 1.0, 1.0), dtype=torch.float32).view(3, 1, 1)
        self.scale, self.shift = 1.0 / (255.0 * s), -m / s
        self.fallback = fallback

    def __call__(self, img):
        import numpy as np
        import torch
        from PIL import Image

        if not (isinstance(img, Image.Image) and img.mode == "RGB"):
            return self.fallback(img)
        pixels = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)
        out = torch.empty(pixels.shape, dtype=torch.float32)  # contiguous, whatever the permuted strides
        out.copy_(pixels)
        return out.mul_(self.scale).add_(self.shift)

    def __repr__(self) -> str:
        return f"ToNormalisedTensor(fallback={self.fallback!r})"
