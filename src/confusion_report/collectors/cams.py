"""Grad-CAM for every image, gathered inside the one pass.

The CAM costs one cheap backward per class: a forward hook replaces the target layer's output by a
detached copy that requires grad, so ``autograd.grad`` from the logits stops at that layer instead
of running through the whole network (parameters are frozen by the pass). CAMs are kept at low
resolution (at most :data:`CAM_SIDE` x :data:`CAM_SIDE`), max-normalised, as float16, for the
predicted and the true class of every image. Token (N, L, C) and channels-last (N, H, W, C) outputs are
read as (N, C, H, W) maps through the layer's :class:`~confusion_report.layout.LayerLayout`: the backward
still starts at the layer's own output, and leading class or register tokens are dropped after it.
Their features (and those of normalised CNN stages such as ConvNeXt's) are signed, with no meaningful
zero, so Grad-CAM's "positive evidence" (ReLU of gradient-weighted activations) has no fixed sign there:
for those layers the map is :func:`deviation_cam`, the size of each position's first-order contribution
relative to the image's mean position.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layout import LayerLayout, main_tensor, replace_main
from .base import Collector

CAM_SIDE = 7


def low_res_cam(act: torch.Tensor, grad: torch.Tensor, *, side: int = CAM_SIDE) -> torch.Tensor:
    """Grad-CAM in fp32: ReLU of channels weighted by their spatially averaged gradient, pooled to <= side."""
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.float()).sum(dim=1, keepdim=True))
    h, w = cam.shape[2:]
    if h > side or w > side:
        cam = F.adaptive_avg_pool2d(cam, (min(h, side), min(w, side)))
    return cam[:, 0]


def deviation_cam(act: torch.Tensor, grad: torch.Tensor, *, side: int = CAM_SIDE) -> torch.Tensor:
    """For token and channels-last layers: |sum over channels of gradient x (activation - the image's mean
    position)| in fp32, pooled to <= side. The mean token is the baseline because a normalised token of
    zeros is not "absent"; the magnitude, because the sign of a first-order step through attention and
    layer norms is not reliable while its size is."""
    act = act.float()
    cam = (grad.float() * (act - act.mean(dim=(2, 3), keepdim=True))).sum(dim=1, keepdim=True).abs()
    h, w = cam.shape[2:]
    if h > side or w > side:
        cam = F.adaptive_avg_pool2d(cam, (min(h, side), min(w, side)))
    return cam[:, 0]


def cam_of(layout: LayerLayout | None):
    """The map for a layer: Grad-CAM for rectified (N, C, H, W) outputs, :func:`deviation_cam` for signed
    ones (tokens, channels-last stages, normalised CNN stages such as ConvNeXt's)."""
    return deviation_cam if layout is not None and layout.signed else low_res_cam


class CamCollector(Collector):
    """Low-resolution Grad-CAM of the predicted and the true class for every image.

    Result arrays: ``cams`` (n, 2, h, w) float16, each map divided by its maximum (channel 0 the
    predicted class, 1 the true class), and ``cam_max`` (n, 2) float32, the maxima before that.
    """

    name = "cams"
    needs_grad = True

    def __init__(self, layer: nn.Module, *, layout: LayerLayout | None = None, side: int = CAM_SIDE) -> None:
        self.layer = layer
        self.layout = layout  # None: the output is already (N, C, H, W)
        self.side = side
        self.act: torch.Tensor | None = None
        self.cams: np.ndarray | None = None
        self.maxima: np.ndarray | None = None
        self.n = 0

    def _hook(self, _m, _i, out):
        t = main_tensor(out)
        if t is None or not torch.is_grad_enabled():
            return None
        # The replaced output starts a fresh graph: the backward below stops here.
        act = t.detach().requires_grad_(True)
        self.act = act
        # A clone, so that an in-place op after the layer (ReLU(inplace=True)) does not touch the leaf.
        return replace_main(out, act.clone())

    def _maps(self, t: torch.Tensor) -> torch.Tensor:
        """An activation or its gradient as (N, C, H, W), the same reshape for both."""
        return t if self.layout is None else self.layout.to_nchw(t)

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        self.hook_forward(self.layer, self._hook)

    def after_forward(self, idx, x, logits, labels) -> None:
        act, self.act = self.act, None
        if act is None or not logits.requires_grad:
            return
        pred = logits.detach().argmax(dim=1)
        targets = [pred] if labels is None else [pred, labels]
        maps = []
        for k, t in enumerate(targets):
            if k == 1 and torch.equal(t, pred):
                maps.append(maps[0])
                continue
            score = logits.float().gather(1, t[:, None]).sum()
            (grad,) = torch.autograd.grad(score, act, retain_graph=k + 1 < len(targets))
            maps.append(cam_of(self.layout)(self._maps(act.detach()), self._maps(grad), side=self.side))
        cams = torch.stack(maps, dim=1)
        top = cams.flatten(2).amax(dim=2)
        normed = cams / top.clamp_min(1e-12)[:, :, None, None]
        if self.cams is None:
            h, w = cams.shape[2:]
            self.cams = np.zeros((self.n, 2, h, w), dtype=np.float16)
            self.maxima = np.zeros((self.n, 2), dtype=np.float32)
        if labels is None:
            normed[:, 1] = float("nan")
        self.cams[idx] = normed.cpu().numpy().astype(np.float16)
        self.maxima[idx] = top.cpu().numpy()

    def detach(self) -> None:
        super().detach()
        self.act = None

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        if self.cams is None:
            return {}
        return {"cams": self.cams[keep], "cam_max": self.maxima[keep]}
