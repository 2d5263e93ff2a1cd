"""Preprocessing that comes with a model: torchvision weights' transforms, timm's ``pretrained_cfg`` and a
Hugging Face folder's ``preprocessor_config.json``. All read locally, from library code or the folder."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ReportError

# PIL's resampling numbers, as Hugging Face processors store them.
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


@dataclass(frozen=True)
class PresetSpec:
    """A named recipe: resize the shorter side (``resize``) or to exactly ``resize_to`` (h, w), centre crop,
    normalise, with the interpolation the model was trained with."""

    name: str
    resize: int | None
    crop: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    interpolation: str = "bilinear"
    resize_to: tuple[int, int] | None = None


def torchvision_preset(weights: str) -> PresetSpec:
    """``ResNet50_Weights.IMAGENET1K_V2`` -> that weight's own transforms (torchvision code, no download)."""
    import torchvision

    try:
        t = torchvision.models.get_weight(weights).transforms()
    except (ValueError, KeyError, AttributeError) as exc:
        raise ReportError(f"--preset torchvision:{weights}: {exc}") from None
    return PresetSpec(
        name=f"torchvision:{weights}",
        resize=int(t.resize_size[0]),
        crop=int(t.crop_size[0]),
        mean=tuple(float(v) for v in t.mean),
        std=tuple(float(v) for v in t.std),
        interpolation=str(t.interpolation.value),
    )


def timm_preset(name: str) -> PresetSpec:
    """A timm model name (``convnext_tiny.fb_in1k``) -> its ``pretrained_cfg`` recipe (timm's own metadata,
    no download): resize to ``floor(size / crop_pct)``, centre crop ``size``."""
    try:
        from timm.models import get_pretrained_cfg
    except ImportError:
        raise ReportError(f'--preset timm:{name} needs timm: pip install "confusion-report[timm]"') from None
    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise ReportError(f"--preset timm:{name}: timm knows no pretrained configuration of that name")
    _, h, w = cfg.input_size
    crop_pct = cfg.crop_pct or 1.0
    resize = math.floor(min(h, w) / crop_pct)
    squash = cfg.crop_mode == "squash"  # timm then resizes to a square before cropping
    return PresetSpec(
        name=f"timm:{name}",
        resize=None if squash else resize,
        crop=min(h, w) if h == w else None,
        mean=tuple(float(v) for v in cfg.mean),
        std=tuple(float(v) for v in cfg.std),
        interpolation=cfg.interpolation or "bilinear",
        resize_to=(resize, resize) if squash else (None if h == w else (h, w)),
    )


def hf_preset(folder: Path) -> PresetSpec | None:
    """A Hugging Face folder's ``preprocessor_config.json`` as a recipe; None when the folder has none."""
    path = Path(folder) / "preprocessor_config.json"
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from None
    size = cfg.get("size") if cfg.get("do_resize", True) else None
    resize = resize_to = None
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if isinstance(size, dict) and "height" in size and "width" in size:
        resize_to = (int(size["height"]), int(size["width"]))
    elif isinstance(size, dict) and "shortest_edge" in size:
        resize = int(size["shortest_edge"])
    elif size is not None:
        raise ReportError(f"{path}: size {size} is not supported (height/width or shortest_edge)")
    crop = None
    if cfg.get("do_center_crop"):
        c = cfg.get("crop_size")
        crop = int(c if isinstance(c, int) else min(c["height"], c["width"])) if c is not None else None
    if resize is not None and cfg.get("crop_pct") and crop is None:
        # ConvNeXt's processor: below 384 px, resize to size / crop_pct and centre crop size.
        crop, resize = resize, int(resize / float(cfg["crop_pct"])) if resize < 384 else resize
    normalise = cfg.get("do_normalize", True)
    mean = tuple(float(v) for v in cfg["image_mean"]) if normalise and "image_mean" in cfg else None
    std = tuple(float(v) for v in cfg["image_std"]) if normalise and "image_std" in cfg else None
    if cfg.get("do_rescale", True) is False or float(cfg.get("rescale_factor", 1 / 255)) != 1 / 255:
        raise ReportError(f"{path}: only the usual rescale to [0, 1] (rescale_factor 1/255) is supported")
    return PresetSpec(
        name=f"hf:{path.name}",
        resize=resize,
        crop=crop,
        mean=mean,
        std=std,
        interpolation=_PIL_RESAMPLE.get(int(cfg.get("resample", 2)), "bilinear"),
        resize_to=resize_to,
    )
