"""Grad-CAM for every image, gathered inside the one pass.

The CAM costs one cheap backward per class: a forward hook replaces the target layer's output by a
detached copy that requires grad, so ``autograd.grad`` from the logits stops at that layer instead
of running through the whole network (parameters are frozen by the pass). CAMs are kept at low
resolution (at most :data:`CAM_SIDE` x :data:`CAM_SIDE`), max-normalised, as float16, for the
predicted and the true class of every image.

Beside them the collector keeps the two maps *before* the ReLU at the layer's resolution (pooled to at
most :data:`KEEP_SIDE`): the gallery overlays are derived from these without another forward or backward.
Grad-CAM is linear in its target before the ReLU, so the contrastive map of ``logit_pred - logit_true``
is ``relu(pre_pred - pre_true)`` (weights ``w_pred - w_true``). Keeping maps rather than the channel
weights bounds the memory by the map size (2 x 7 x 7 float16 = 196 bytes per image for a ResNet at
224 px, at most 784 bytes) instead of the channel count (2 x 2,048 for a ResNet-50: 8 KB per image,
800 MB at 100k images), and keeping them for every image avoids a second pass over the gallery images,
which are only chosen after the pass.

Token (N, L, C) and channels-last (N, H, W, C) outputs are
read as (N, C, H, W) maps through the layer's :class:`~confusion_report.layout.LayerLayout`: the backward
still starts at the layer's own output, and leading class or register tokens are dropped after it.
Their features are signed, with no meaningful zero, and their gradient differs from position to position
(attention, a class-token head), so Grad-CAM's "positive evidence" (ReLU of gradient-weighted activations)
has no fixed sign there: for those layers the map is :func:`deviation_cam`, the size of each position's
first-order contribution relative to the image's mean position. (N, C, H, W) maps keep Grad-CAM even when
signed (a ConvNeXt stage): before global pooling it is each position's first-order share of the logit.

After the layer, what the plan measured (:class:`~confusion_report.layers.CamBackward`) keeps the backward
small: the parameters of the modules after the layer require grad during the pass (so that PyTorch folds
their matrix products; no weight gradient is computed), and modules that act on each token alone and whose
other tokens never reach a class-token head recompute just the tokens that do with a graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layout import LayerLayout, graph_start, main_tensor, replace_main, select_tokens
from .base import Collector, take_rows

CAM_SIDE = 7
# The pre-ReLU maps for the overlays: the layer's own resolution up to this side (14 x 14 covers a ViT-B/16
# or a VGG at 224 px unpooled), average-pooled beyond it. Pooling is linear, so the contrastive map stays exact.
KEEP_SIDE = 14


def pre_relu_cam(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Grad-CAM before its ReLU, in fp32: channels weighted by their spatially averaged gradient, summed (N, H, W)."""
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    return (weights * act.float()).sum(dim=1)


def pre_abs_deviation(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Sum over channels of gradient x (activation - the image's mean position), in fp32 (N, H, W): the
    deviation map before its absolute value."""
    act = act.float()
    return (grad.float() * (act - act.mean(dim=(2, 3), keepdim=True))).sum(dim=1)


def _pool(maps: torch.Tensor, side: int) -> torch.Tensor:
    h, w = maps.shape[-2:]
    if h > side or w > side:
        return F.adaptive_avg_pool2d(maps, (min(h, side), min(w, side)))
    return maps


def low_res_cam(act: torch.Tensor, grad: torch.Tensor, *, side: int = CAM_SIDE) -> torch.Tensor:
    """Grad-CAM in fp32: ReLU of channels weighted by their spatially averaged gradient, pooled to <= side."""
    return _pool(F.relu(pre_relu_cam(act, grad))[:, None], side)[:, 0]


def deviation_cam(act: torch.Tensor, grad: torch.Tensor, *, side: int = CAM_SIDE) -> torch.Tensor:
    """For token and channels-last layers: |sum over channels of gradient x (activation - the image's mean
    position)| in fp32, pooled to <= side. The mean token is the baseline because a normalised token of
    zeros is not "absent"; the magnitude, because the sign of a first-order step through attention and
    layer norms is not reliable while its size is."""
    return _pool(pre_abs_deviation(act, grad).abs()[:, None], side)[:, 0]


def cam_of(layout: LayerLayout | None):
    """The map for a layer: Grad-CAM for (N, C, H, W) outputs, :func:`deviation_cam` for signed ones (tokens,
    channels-last stages)."""
    return deviation_cam if layout is not None and layout.signed else low_res_cam


class CamCollector(Collector):
    """Low-resolution Grad-CAM of the predicted and the true class for every image.

    Result arrays: ``cams`` (n, 2, h, w) float16, each map divided by its maximum (channel 0 the
    predicted class, 1 the true class), and ``cam_max`` (n, 2) float32, the maxima before that. For
    rectified layers also ``cam_pre`` (n, 2, H, W) float16, the same two maps before the ReLU at the
    layer's resolution (at most ``keep_side``), both divided by ``cam_pre_scale`` (n,) float32, their
    largest absolute value. Signed layers keep no ``cam_pre``: their map is not linear in the target.
    """

    name = "cams"
    needs_grad = True

    def __init__(
        self,
        layer: nn.Module,
        *,
        layout: LayerLayout | None = None,
        side: int = CAM_SIDE,
        keep_side: int = KEEP_SIDE,
        grad_modules: Sequence[nn.Module] = (),
        token_rows: Mapping[nn.Module, tuple[int, ...]] | None = None,
    ) -> None:
        self.layer = layer
        # From the plan's CamBackward: modules after the layer whose parameters join the graph, and modules
        # that recompute only the token rows reaching the logits.
        self.grad_modules = tuple(grad_modules)
        self.token_rows = dict(token_rows or {})
        self._thawed: list[nn.Parameter] = []
        self._recomputing = False
        self.layout = layout  # None: the output is already (N, C, H, W)
        self.signed = layout is not None and layout.signed
        self.side = side
        self.keep_side = keep_side
        self.act: torch.Tensor | None = None
        self.cams: np.ndarray | None = None
        self.maxima: np.ndarray | None = None
        self.pre: np.ndarray | None = None
        self.pre_scale: np.ndarray | None = None
        self.n = 0

    def _hook(self, _m, _i, out):
        started = graph_start(out) if torch.is_grad_enabled() else None
        if started is None:
            return None
        # The replaced output starts a fresh graph: the backward below stops here.
        self.act, replaced = started
        return replaced

    def _maps(self, t: torch.Tensor) -> torch.Tensor:
        """An activation or its gradient as (N, C, H, W), the same reshape for both."""
        return t if self.layout is None else self.layout.to_nchw(t)

    def _rows_hook(self, rows: tuple[int, ...]):
        """A forward hook that gives the module's output a graph through ``rows`` (of dim 1) only: those rows
        are recomputed from the same rows of the inputs, the output keeps its values exactly."""

        def hook(m, args, out):
            t = main_tensor(out)
            if self._recomputing or t is None or not t.requires_grad or t.dim() != 3 or t.shape[1] <= rows[-1]:
                return None
            index = torch.tensor(rows, device=t.device)
            self._recomputing = True
            try:
                part = main_tensor(m(*select_tokens(args, index, tuple(t.shape[:2]))))
            finally:
                self._recomputing = False
            # ``part - part.detach()`` is zero with part's graph: the values stay those of the full output.
            return replace_main(out, t.detach().index_add(1, index, part - part.detach()))

        return hook

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        self.hook_forward(self.layer, self._hook)
        for m, rows in self.token_rows.items():
            if rows:
                self.hook_forward(m, self._rows_hook(rows))
        self._thawed = [p for m in self.grad_modules for p in m.parameters(recurse=False) if not p.requires_grad]
        for p in self._thawed:
            p.requires_grad_(True)

    def maps_for(self, logits: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor | None:
        """Maps before their ReLU (or, for signed layers, before the absolute value), (N, len(targets), H, W),
        of the batch just run, one target class per image in each tensor of ``targets``; a target equal to
        the one before it reuses that map. None when the hook saw no activation that requires grad."""
        act, self.act = self.act, None
        if act is None or not logits.requires_grad:
            return None
        pre_map = pre_abs_deviation if self.signed else pre_relu_cam
        pres: list[torch.Tensor] = []
        for k, t in enumerate(targets):
            if k > 0 and torch.equal(t, targets[k - 1]):
                pres.append(pres[-1])
                continue
            score = logits.float().gather(1, t[:, None]).sum()
            (grad,) = torch.autograd.grad(score, act, retain_graph=k + 1 < len(targets))
            pres.append(pre_map(self._maps(act.detach()), self._maps(grad)))
        return torch.stack(pres, dim=1)

    def after_forward(self, idx, x, logits, labels) -> None:
        pred = logits.detach().argmax(dim=1)
        pre = self.maps_for(logits, [pred] if labels is None else [pred, labels])
        if pre is None:
            return
        cams = _pool(pre.abs() if self.signed else F.relu(pre), self.side)
        top = cams.flatten(2).amax(dim=2)
        normed = cams / top.clamp_min(1e-12)[:, :, None, None]
        if self.cams is None:
            self.cams = np.zeros((self.n, 2, *cams.shape[2:]), dtype=np.float16)
            self.maxima = np.zeros((self.n, 2), dtype=np.float32)
        if labels is None:
            normed = torch.cat([normed, torch.full_like(normed, float("nan"))], dim=1)
        self.cams[idx] = normed.cpu().numpy().astype(np.float16)
        self.maxima[idx] = top.cpu().numpy()
        if self.signed:
            return
        kept = _pool(pre, self.keep_side)
        scale = kept.flatten(1).abs().amax(dim=1).clamp_min(1e-12)
        kept = kept / scale[:, None, None, None]
        if self.pre is None:
            self.pre = np.zeros((self.n, 2, *kept.shape[2:]), dtype=np.float16)
            self.pre_scale = np.zeros(self.n, dtype=np.float32)
        if labels is None:
            kept = torch.cat([kept, torch.full_like(kept, float("nan"))], dim=1)
        self.pre[idx] = kept.cpu().numpy().astype(np.float16)
        self.pre_scale[idx] = scale.cpu().numpy()

    def detach(self) -> None:
        super().detach()
        for p in self._thawed:
            p.requires_grad_(False)
        self._thawed = []
        self.act = None

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        if self.cams is None:
            return {}
        out = {"cams": take_rows(self.cams, keep), "cam_max": take_rows(self.maxima, keep)}
        if self.pre is not None:
            out["cam_pre"] = take_rows(self.pre, keep)
            out["cam_pre_scale"] = take_rows(self.pre_scale, keep)
        return out
