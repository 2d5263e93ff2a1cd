"""Heat maps over thumbnails as small data URIs (numpy, matplotlib colour maps and Pillow; no torch).

The explain step calls these to store overlays in ``media``; the render step calls
:func:`heat_uri` to draw mean attention maps straight from the numbers in the results JSON.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

OVERLAY_SIDE = 96


def _encode(img: Image.Image, *, fmt: str = "WEBP") -> str:
    buf = io.BytesIO()
    if fmt == "WEBP":
        img.save(buf, format="WEBP", quality=82, method=4)
    else:
        img.save(buf, format="PNG", optimize=True)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def colourise(heat: np.ndarray, *, signed: bool = False, cmap: str | None = None) -> np.ndarray:
    """Map a 2-D array to RGB (uint8): scaled by its max (``signed``: by max |value|, centred at white)."""
    import matplotlib

    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64))
    if signed:
        scale = float(np.abs(heat).max()) or 1.0
        values = 0.5 + 0.5 * heat / scale
        name = cmap or "RdBu_r"
    else:
        heat = heat - min(float(heat.min()), 0.0)
        scale = float(heat.max()) or 1.0
        values = heat / scale
        name = cmap or "jet"
    rgba = matplotlib.colormaps[name](np.clip(values, 0, 1))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def _resize(heat: np.ndarray, side: tuple[int, int], *, smooth: bool) -> np.ndarray:
    img = Image.fromarray(np.asarray(heat, dtype=np.float32), mode="F")
    return np.asarray(img.resize(side, Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST))


def overlay_uri(
    rgb: np.ndarray,
    heat: np.ndarray,
    *,
    side: int = OVERLAY_SIDE,
    alpha: float = 0.5,
    signed: bool = False,
    smooth: bool = True,
) -> str:
    """Blend a colourised heat map (any resolution) over an RGB image (H x W x 3, uint8 or 0..1 floats)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    base = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC), dtype=np.float64)
    fine = _resize(heat, size, smooth=smooth)
    colour = colourise(fine, signed=signed).astype(np.float64)
    if signed:
        # Opacity grows with |value|: no evidence leaves the picture as it is, strong evidence shows in full colour.
        strength = np.abs(np.nan_to_num(fine)) / (float(np.abs(np.nan_to_num(fine)).max()) or 1.0)
        weight = (0.85 * strength)[..., None]
        mixed = (1 - weight) * base + weight * colour
    else:
        mixed = (1 - alpha) * base + alpha * colour
    return _encode(Image.fromarray(mixed.round().clip(0, 255).astype(np.uint8)))


def heat_uri(heat: np.ndarray, *, side: int = 72, smooth: bool = False) -> str:
    """A heat map alone (e.g. a mean attention map), as a PNG data URI; cells stay visible by default."""
    heat = np.asarray(heat, dtype=np.float64)
    h, w = heat.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return _encode(Image.fromarray(colourise(_resize(heat, size, smooth=smooth))), fmt="PNG")


def gray_uri(heat: np.ndarray, *, side: int = 48) -> str:
    """One feature map in the viridis colour map (scaled to its own max), as a PNG data URI."""
    heat = np.asarray(heat, dtype=np.float64)
    h, w = heat.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = colourise(_resize(heat, size, smooth=False), cmap="viridis")
    return _encode(Image.fromarray(rgb), fmt="PNG")
