"""Move images along one property (brightness, contrast, saturation, sharpness, size, grayscale).

Each edit has one strength per image; :func:`fit_strengths` searches a grid for the strength that brings
each image's measured value (the same formulas as the pass's image statistics) closest to a target, so
clipping at 0 and 1 is accounted for. The edits work on pixels in 0..1; see :mod:`.region` for the spaces.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..analyses.image_stats import LUMA

# Properties an edit can move, each with the grid of strengths searched (1.0 or 0.0 leaves the image as is).
_FACTORS = np.geomspace(1 / 8, 8, 61)
GRIDS: dict[str, np.ndarray] = {
    "brightness": _FACTORS,  # gain on every pixel
    "contrast": _FACTORS,  # scale of luma's deviation from its mean
    "saturation": _FACTORS,  # scale of each pixel's deviation from its own grey
    "sharpness": np.concatenate([-np.linspace(1.0, 0.0, 11)[:-1], np.geomspace(0.05, 16, 40)]),  # <0 blur, >0 sharpen
    "size": np.linspace(0.125, 1.0, 36),  # the original size ratio: shrink then re-enlarge
}
CHANGEABLE = (*GRIDS, "grayscale")


def unchangeable_reason(prop: str, direction: str) -> str | None:
    """Why a slice cannot be moved toward its class's typical value, or None when it can."""
    if prop not in CHANGEABLE:
        return f"{prop} cannot be changed by editing the image the model sees"
    if (prop, direction) == ("size", "low"):
        return "small originals cannot be given the detail of larger ones"
    return None


def _luma(u: torch.Tensor) -> torch.Tensor:
    return LUMA[0] * u[:, 0] + LUMA[1] * u[:, 1] + LUMA[2] * u[:, 2]


def measure(prop: str, u: torch.Tensor) -> torch.Tensor:
    """Per image of ``u`` (N x 3 x H x W in 0..1): ``prop`` as :mod:`~confusion_report.analyses.image_stats`
    defines it (size is not a pixel property: it is measured by the strength itself)."""
    u = u.float().clamp(0, 1)
    luma = _luma(u)
    if prop == "brightness":
        return luma.flatten(1).mean(1)
    if prop == "contrast":
        return luma.flatten(1).std(1, correction=0)
    if prop == "saturation":
        mx, mn = u.amax(dim=1), u.amin(dim=1)
        return torch.where(mx > 1e-6, (mx - mn) / mx.clamp_min(1e-6), torch.zeros_like(mx)).flatten(1).mean(1)
    if prop == "sharpness":
        lap = luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1] + luma[:, 1:-1, :-2] + luma[:, 1:-1, 2:] - 4 * luma[:, 1:-1, 1:-1]
        return lap.flatten(1).var(1, correction=0)
    raise ValueError(f"no pixel measure for {prop!r}")


def _blur(u: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0], device=u.device, dtype=u.dtype)
    kernel = (k[:, None] * k[None, :] / 16).expand(u.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(u, (1, 1, 1, 1), mode="replicate"), kernel, groups=u.shape[1])


def edit(prop: str, u: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Apply one property edit with a strength per image (``strength``: N) to pixels in 0..1."""
    return editor(prop, u)(strength)


def editor(prop: str, u: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``strength`` (N) -> ``u`` edited along ``prop``, with what does not depend on the strength (the mean
    luma, the grey image, the blur) computed once: :func:`fit_strengths` tries 50 to 60 strengths."""
    if prop not in CHANGEABLE:
        raise ValueError(f"{prop!r} cannot be edited; editable: {', '.join(CHANGEABLE)}")
    if prop == "size":
        return lambda strength: _resample(u, strength)
    if prop == "grayscale":
        grey = _luma(u)[:, None].expand_as(u).clamp(0, 1)
        return lambda strength: grey
    if prop == "brightness":
        base, step = torch.zeros_like(u), u
    elif prop == "contrast":
        base = _luma(u).flatten(1).mean(1).view(-1, 1, 1, 1)
        step = u - base
    elif prop == "saturation":
        base = _luma(u)[:, None]
        step = u - base
    else:  # sharpness: s > 0 moves away from the blur (sharpens), s < 0 toward it, linearly either way
        base, step = u, u - _blur(u)

    def apply(strength: torch.Tensor) -> torch.Tensor:
        s = strength.to(u.device, u.dtype).view(-1, 1, 1, 1)
        return (base + s * step).clamp(0, 1)

    return apply


def _resample(u: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Each image shrunk by its factor and enlarged back: the detail of a smaller original."""
    h, w = u.shape[-2:]
    rows = []
    for img, f in zip(u, strength.tolist(), strict=True):
        small = F.interpolate(
            img[None], size=(max(1, round(h * f)), max(1, round(w * f))), mode="bilinear", antialias=True
        )
        rows.append(F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0])
    return torch.stack(rows).clamp(0, 1)


def fit_strengths(prop: str, u: torch.Tensor, target: float | np.ndarray) -> np.ndarray:
    """Per image, the grid strength whose edit brings ``prop`` closest to ``target`` (for size, the ratio
    ``target`` itself, which is already per image: target size / original size)."""
    if prop == "grayscale":
        return np.zeros(len(u))
    grid = GRIDS[prop]
    if prop == "size":
        want = np.broadcast_to(np.asarray(target, dtype=np.float64), (len(u),))
        return grid[np.abs(grid[None, :] - want[:, None]).argmin(axis=1)]
    want_t = torch.as_tensor(np.broadcast_to(np.asarray(target, dtype=np.float64), (len(u),)).copy())
    # Sharpness spans orders of magnitude: compare it on a log scale.
    scale = (lambda v: torch.log(v.double() + 1e-8)) if prop == "sharpness" else (lambda v: v.double())
    best = torch.full((len(u),), float("inf"), dtype=torch.float64)
    chosen = np.ones(len(u)) if prop != "sharpness" else np.zeros(len(u))
    moved = editor(prop, u)
    for g in grid:
        value = measure(prop, moved(torch.full((len(u),), float(g)))).cpu()
        gap = (scale(value) - scale(want_t)).abs()
        better = (gap < best).numpy()
        chosen[better] = g
        best = torch.minimum(best, gap)
    return chosen


def describe_edit(prop: str, direction: str, target: float) -> str:
    """Words for an edit that moves a slice toward the class's typical value."""
    verbs = {
        ("brightness", "low"): "brightened",
        ("brightness", "high"): "darkened",
        ("contrast", "low"): "given more contrast",
        ("contrast", "high"): "given less contrast",
        ("saturation", "low"): "given more colour",
        ("saturation", "high"): "given less colour",
        ("sharpness", "low"): "sharpened",
        ("sharpness", "high"): "softened",
        ("size", "high"): "reduced in resolution",
    }
    if (prop, direction) == ("grayscale", "yes"):
        return "the class's colour images turned grayscale (colour cannot be given back to grayscale images)"
    unit = " px" if prop == "size" else ""
    return f"{verbs[(prop, direction)]} to the class median ({prop} {target:.3g}{unit})"
