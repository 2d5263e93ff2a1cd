"""Neutralise one region of a batch of images: a cell of the 3x3 grid or the outer border.

The edits work on un-normalised pixels (0..1, what the image looks like); :func:`neutralise` takes and
returns the normalised tensors the model sees, so callers never handle the two spaces themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..results import GRID_NAMES

FILLS = ("mean", "blur")
# The attention statistics' border is the outer ring of the CAM (one cell of an 8x8 map): 1/8 of a side.
BORDER_FRACTION = 1 / 8


def region_mask(region: str, height: int, width: int) -> torch.Tensor:
    """Boolean H x W mask of a named region: a cell of ``GRID_NAMES`` (split at thirds) or ``"border"``."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    if region == "border":
        bh, bw = max(1, round(height * BORDER_FRACTION)), max(1, round(width * BORDER_FRACTION))
        mask[:bh] = mask[-bh:] = True
        mask[:, :bw] = mask[:, -bw:] = True
        return mask
    if region not in GRID_NAMES:
        raise ValueError(f"unknown region {region!r}; expected 'border' or one of {', '.join(GRID_NAMES)}")
    r, c = divmod(GRID_NAMES.index(region), 3)
    mask[height * r // 3 : height * (r + 1) // 3, width * c // 3 : width * (c + 1) // 3] = True
    return mask


def control_regions(region: str) -> tuple[str, ...]:
    """Regions of the same size elsewhere: the other eight grid cells (images take them in turn), or for the
    border a centred square of the same area (``"center-square"``)."""
    if region == "border":
        return ("center-square",)
    return tuple(name for name in GRID_NAMES if name != region)


def control_mask(name: str, height: int, width: int) -> torch.Tensor:
    """The mask of a control region (a grid cell, or the centred square with the border's area)."""
    if name != "center-square":
        return region_mask(name, height, width)
    area = int(region_mask("border", height, width).sum())
    side_h = min(height, max(1, round((area * height / width) ** 0.5)))
    side_w = min(width, max(1, round(area / side_h)))
    top, left = (height - side_h) // 2, (width - side_w) // 2
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[top : top + side_h, left : left + side_w] = True
    return mask


def to_pixels(x: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """Normalised model input -> pixels in 0..1 (undo ``Normalize``)."""
    if mean is None or std is None:
        return x.float()
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return x.float() * s + m


def to_input(u: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """Pixels in 0..1 -> the normalised model input."""
    if mean is None or std is None:
        return u
    m = torch.tensor(mean, dtype=torch.float32, device=u.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=u.device).view(1, -1, 1, 1)
    return (u - m) / s


def fill_values(u: torch.Tensor, *, fill: str, mean: Sequence[float] | None, masks: torch.Tensor) -> torch.Tensor:
    """What replaces the masked pixels: the normalisation mean colour (0.5 grey without one), or the
    image's own content blurred at the scale of the region, so that a small cue is smeared into its
    surroundings rather than painted over."""
    if fill == "mean":
        colour = torch.tensor(mean if mean is not None else (0.5,) * u.shape[1], dtype=u.dtype, device=u.device)
        return colour.view(1, -1, 1, 1).expand_as(u)
    if fill == "blur":
        side = int(masks.flatten(1).sum(1).max().item() ** 0.5) or 1
        k = max(3, side | 1)  # odd, about the region's side
        pad = k // 2
        blurred = F.avg_pool2d(F.pad(u, (pad, pad, pad, pad), mode="replicate"), k, stride=1)
        return blurred[..., : u.shape[-2], : u.shape[-1]]
    raise ValueError(f"unknown fill {fill!r}; choose from {', '.join(FILLS)}")


def neutralise(
    x: torch.Tensor,
    masks: torch.Tensor,
    *,
    fill: str = "mean",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """``x`` (N x C x H x W, normalised) with each image's masked pixels (``masks``: N x H x W, or one
    H x W mask for all) replaced by ``fill``; the rest of every image is untouched."""
    u = to_pixels(x, mean, std)
    if masks.dim() == 2:
        masks = masks.expand(len(x), -1, -1)
    masks = masks.to(u.device)
    out = torch.where(masks[:, None], fill_values(u, fill=fill, mean=mean, masks=masks), u)
    return to_input(out, mean, std).to(x.dtype)


def describe_region(region: str) -> str:
    """Words for a region, as the findings use them."""
    if region == "border":
        return "the image border"
    if region == "center":
        return "the centre"
    if region == "center-square":
        return "a centred square of the same area"
    return f"the {region} {'corner' if '-' in region else 'edge'}"


def describe_fill(fill: str, mean: Sequence[float] | None) -> str:
    """Words for a fill."""
    if fill == "blur":
        return "the image's own content blurred at the region's scale"
    return "the normalisation mean colour" if mean is not None else "mid grey"
