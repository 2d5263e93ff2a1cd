"""How a layer's output is laid out, and how to turn it into the (N, C, H, W) maps that CAMs read.

CNNs give (N, C, H, W); Swin-style stages give channels-last (N, H, W, C); ViT-style encoders give
tokens (N, L, C): a few leading class, distillation or register tokens, then an H x W grid of patches.
:func:`infer_layout` decides which from the output shape and the input size (and, when the shape alone
cannot tell, the module's type); :meth:`LayerLayout.to_nchw` is the one reshape that the in-pass CAM,
the stage activations, the gallery overlays and the feature-map views all use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn

NCHW, NHWC, TOKENS = "nchw", "nhwc", "tokens"
# Class + distillation + up to 8 register tokens, with room to spare; the smallest count that fits wins.
MAX_PREFIX_TOKENS = 16


@dataclass(frozen=True)
class LayerLayout:
    """How to read one layer's output as maps: ``kind`` (nchw, nhwc or tokens), the ``grid`` (h, w) and,
    for tokens, how many leading non-patch tokens (``prefix``) to drop. ``uncertain`` says why the
    reading is a guess (None when the shape left one reading). ``signed``: the features are normalised
    rather than rectified (tokens, channels-last stages), so zero does not mean "absent"
    and the CAM is :func:`~confusion_report.collectors.cams.deviation_cam` rather than Grad-CAM."""

    kind: str
    grid: tuple[int, int]
    prefix: int = 0
    uncertain: str | None = None
    signed: bool = False

    def to_nchw(self, out) -> torch.Tensor:
        """The layer's output (a tensor, or a tuple whose first element is one) as (N, C, h, w)."""
        t = main_tensor(out)
        if t is None:
            raise TypeError(f"expected a tensor output, got {type(out).__name__}")
        h, w = self.grid
        if self.kind == NCHW:
            return t
        if self.kind == NHWC:
            return t.permute(0, 3, 1, 2)
        tokens = t[:, self.prefix :]
        if tokens.shape[1] != h * w:
            raise ValueError(f"{tokens.shape[1]} patch tokens do not fill the {h}x{w} grid found when probing")
        return tokens.transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)

    def describe(self) -> str:
        """One line for the log and the report, e.g. ``tokens (N, L, C): 1 leading token dropped, 14x14 grid``."""
        h, w = self.grid
        if self.kind == NCHW:
            return f"(N, C, H, W), {h}x{w}"
        if self.kind == NHWC:
            return f"channels-last (N, H, W, C), {h}x{w}"
        dropped = f"{self.prefix} leading token{'s' if self.prefix != 1 else ''} dropped"
        return f"tokens (N, L, C): {dropped}, {h}x{w} grid"


def main_tensor(out) -> torch.Tensor | None:
    """A module's output tensor: the output itself, or the first element of a tuple or list (HF layers)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def replace_main(out, new: torch.Tensor):
    """``out`` with its main tensor replaced by ``new`` (what a forward hook returns to swap it)."""
    if isinstance(out, torch.Tensor):
        return new
    return type(out)([new, *out[1:]]) if isinstance(out, list) else (new, *out[1:])


def graph_start(out) -> tuple[torch.Tensor, Any] | None:
    """For a forward hook where a gradient's backward must stop: the output's main tensor detached as a leaf
    that requires grad, and the output to return from the hook, which carries a clone of that leaf (so that an
    in-place op after the layer, ReLU(inplace=True), does not touch it). None when there is no main tensor."""
    t = main_tensor(out)
    if t is None:
        return None
    act = t.detach().requires_grad_(True)
    return act, replace_main(out, act.clone())


def select_tokens(args: tuple, index: torch.Tensor, lead: tuple[int, ...]) -> list:
    """``args`` with each tensor whose first two dimensions are ``lead`` (N, L) cut to the tokens ``index``."""
    return [a.index_select(1, index) if isinstance(a, torch.Tensor) and tuple(a.shape[:2]) == lead else a for a in args]


@lru_cache(maxsize=64)
def _grids(height: int, width: int, *, exact: bool) -> dict[int, tuple[int, int]]:
    """Patch grids an input of this size can give, by cell count: strides that divide both sides (``exact``,
    as patch embeddings do) or any stride with the last patch padded (ceil division)."""
    grids: dict[int, tuple[int, int]] = {}
    for stride in range(1, max(height, width) + 1):
        if exact and (height % stride or width % stride):
            continue
        gh, gw = math.ceil(height / stride), math.ceil(width / stride)
        grids.setdefault(gh * gw, (gh, gw))
    return grids


def _is_grid(h: int, w: int, height: int, width: int) -> bool:
    """Could an (h, w) map come from an input of this size (a common stride, give or take a border cell)?"""
    if not (1 <= h <= height and 1 <= w <= width) or h * w < 2:
        return False
    return abs(h * width - w * height) <= max(height, width)


# Module types whose output keeps the channels last (they act on the last dimension).
_CHANNELS_LAST_TYPES = (nn.LayerNorm, nn.Linear, nn.GELU)


def infer_layout(
    shape: tuple[int, ...],
    input_hw: tuple[int, int],
    *,
    module: nn.Module | None = None,
    prefix_hint: int | None = None,
) -> LayerLayout | None:
    """How to read an output of ``shape`` for an input of ``input_hw`` as maps; None when it is not spatial.

    4-D: (N, C, H, W) or (N, H, W, C), whichever pair of dimensions fits the input's aspect; when both fit
    the module's type decides (LayerNorm or Linear act on the last dimension: channels-last) and the
    layout is marked uncertain. 3-D: tokens, when all but a few leading tokens fill a patch grid of the
    input (``prefix_hint``, e.g. timm's ``num_prefix_tokens``, is tried first).
    """
    height, width = input_hw
    if len(shape) == 4:
        as_nchw = _is_grid(shape[2], shape[3], height, width)
        as_nhwc = _is_grid(shape[1], shape[2], height, width)
        if as_nchw and as_nhwc:
            last = isinstance(module, _CHANNELS_LAST_TYPES)
            kind, grid = (NHWC, (shape[1], shape[2])) if last else (NCHW, (shape[2], shape[3]))
            why = f"{tuple(shape)} reads as (N, C, H, W) and as (N, H, W, C); {kind} chosen from the module type"
            return LayerLayout(kind, grid, uncertain=why, signed=kind == NHWC)
        if as_nchw:
            return LayerLayout(NCHW, (shape[2], shape[3]))
        if as_nhwc:
            return LayerLayout(NHWC, (shape[1], shape[2]), signed=True)
        return None
    if len(shape) == 3 and shape[2] >= 2:
        order = list(range(MAX_PREFIX_TOKENS + 1))
        if prefix_hint is not None and 0 <= prefix_hint <= MAX_PREFIX_TOKENS:
            order = [prefix_hint, *(p for p in order if p != prefix_hint)]
        for exact in (True, False):  # grids of a stride that divides the input first
            grids = _grids(height, width, exact=exact)
            fits = [p for p in order if shape[1] - p >= 2 and shape[1] - p in grids]
            if fits:
                break
        else:
            return None
        prefix = fits[0]
        # Another count that leaves a grid nearly as fine is a real alternative (dropping many tokens to get
        # a much coarser grid is not what patch models do).
        rivals = [p for p in fits[1:] if 2 * (shape[1] - p) >= shape[1] - prefix]
        why = None
        if prefix != prefix_hint and rivals:
            others = ", ".join(str(p) for p in rivals[:3])
            why = f"{shape[1]} tokens: {prefix} leading dropped, but dropping {others} would also leave a patch grid"
        return LayerLayout(TOKENS, grids[shape[1] - prefix], prefix=prefix, uncertain=why, signed=True)
    return None
