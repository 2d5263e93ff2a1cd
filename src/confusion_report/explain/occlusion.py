"""Batched occlusion sensitivity: how much a logit drops when a window is greyed out.

The perturbed copies of every chosen image go through the model in shared batches (several images'
windows per forward), and the clean logits come from the pass, so an image costs exactly one forward per
window position. :func:`plan_occlusion` picks the window grid and the images from a budget of forwards.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# Window grids from finest to coarsest: (positions per side, window as a fraction of the side). The finest
# is the half-overlapping 1/7 window (169 positions); the others tile the image side by side.
GRIDS = ((13, 1 / 7), (6, 1 / 6), (5, 1 / 5), (4, 1 / 4), (3, 1 / 3))


def default_window(side: int, *, overlap: bool = True) -> tuple[int, int]:
    """Window about 1/7 of the input side with a half-overlapping stride (169 positions on 224 px, 100 on
    32 px); with ``overlap=False`` a coarser 1/6 window side by side (36 positions on 224 px, 25 on 32 px)."""
    if not overlap:
        window = max(2, math.ceil(side / 6))
        return window, window
    window = max(2, math.ceil(side / 7))
    return window, max(1, math.ceil(window / 2))


def window_starts(side: int, window: int, stride: int) -> list[int]:
    """Start offsets of a window sliding along ``side`` by ``stride``; the last one ends at the edge, so
    every pixel is covered (captum stops where the next full stride would overrun and leaves the rest)."""
    window = min(window, side)
    starts = list(range(0, side - window + 1, max(1, stride)))
    if starts[-1] != side - window:
        starts.append(side - window)
    return starts


def grid_window(side: int, per_side: int, fraction: float) -> tuple[int, int]:
    """Window and stride that place ``per_side`` windows of ``fraction`` of the side from edge to edge."""
    window = max(1, min(side, math.ceil(side * fraction)))
    if per_side <= 1:
        return window, max(1, side)
    return window, max(1, math.ceil((side - window) / (per_side - 1)))


@dataclass(frozen=True)
class OcclusionPlan:
    """Which images get an occlusion map, with which window; ``forwards`` is what it costs."""

    images: tuple[int, ...]  # positions in the candidate list
    window: int | None
    stride: int | None
    positions: int  # windows per image
    forwards: int


def plan_occlusion(
    side: int,
    order: Sequence[int],
    leads: int,
    budget: int,
    *,
    window: int | None = None,
    stride: int | None = None,
) -> OcclusionPlan:
    """Spend ``budget`` forwards: the finest grid at which the ``leads`` first candidates of ``order`` (one
    error per pair) all fit, then as many further candidates as the rest allows at that grid. A window or
    stride given by the user fixes the grid; the budget then only decides how many images are covered."""
    if not order or budget <= 0:
        return OcclusionPlan((), None, None, 0, 0)
    if window is not None or stride is not None:
        dw, ds = default_window(side, overlap=False)
        w = window or dw
        s = stride or (ds if window is None else w)
        choices = [(w, s)]
    else:
        choices = [grid_window(side, n, f) for n, f in GRIDS]
    leads = max(1, min(leads, len(order)))
    for k, (w, s) in enumerate(choices):
        positions = len(window_starts(side, w, s)) ** 2
        if positions * leads <= budget or k == len(choices) - 1:
            count = min(len(order), budget // positions)
            chosen = tuple(order[:count])
            return OcclusionPlan(chosen, w, s, positions, positions * len(chosen))
    raise AssertionError("unreachable: the last grid always returns")


def occlusion_maps(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    window: int,
    stride: int,
    clean: torch.Tensor | None = None,
    batch_size: int = 64,
    autocast: contextlib.AbstractContextManager | None = None,
) -> np.ndarray:
    """Per image (N x H x W): the target logit's drop when each window is set to 0 (the data mean after
    normalisation), averaged over the windows covering a pixel. ``clean`` holds the target logits without
    occlusion (from the pass); without it one more forward per image computes them. The windows of all
    images share batches of ``batch_size``."""
    n, _, h, w = x.shape
    ys, xs = window_starts(h, window, stride), window_starts(w, window, stride)
    wy, wx = min(window, h), min(window, w)
    jobs = [(i, y, x0) for i in range(n) for y in ys for x0 in xs]
    targets = targets.to(x.device)
    drops = torch.empty(len(jobs), dtype=torch.float32)
    ctx = autocast or contextlib.nullcontext()
    with torch.no_grad():
        if clean is None:
            with ctx:
                clean = model(x).float().gather(1, targets[:, None])[:, 0]
        clean = clean.float().cpu()
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            idx = torch.tensor([i for i, _, _ in chunk])
            batch = x[idx.to(x.device)].clone()
            for k, (_, y, x0) in enumerate(chunk):
                batch[k, :, y : y + wy, x0 : x0 + wx] = 0.0
            with ctx:
                out = model(batch).float()
            drops[start : start + len(chunk)] = (
                clean[idx] - out.gather(1, targets[idx.to(x.device)][:, None])[:, 0].cpu()
            )
    heat = np.zeros((n, h, w), dtype=np.float64)
    count = np.zeros((h, w), dtype=np.float64)
    for y in ys:
        for x0 in xs:
            count[y : y + wy, x0 : x0 + wx] += 1
    for (i, y, x0), d in zip(jobs, drops.numpy(), strict=True):
        heat[i, y : y + wy, x0 : x0 + wx] += d
    return (heat / np.maximum(count, 1)).astype(np.float32)
