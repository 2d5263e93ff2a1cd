"""Grad-CAM overlays: derived from the pass's pre-ReLU maps (plain Grad-CAM), or pytorch-grad-cam for the
other ``--cam`` methods; per class, and contrastive (logit B minus logit A)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..collectors.cams import deviation_cam
from ..layout import LayerLayout, graph_start

CAM_METHODS = ("gradcam", "gradcam++", "layercam", "eigencam", "hirescam", "xgradcam")


def cam_class(method: str):
    """The pytorch-grad-cam class for a ``--cam`` name."""
    import pytorch_grad_cam as g

    classes = {
        "gradcam": g.GradCAM,
        "gradcam++": g.GradCAMPlusPlus,
        "layercam": g.LayerCAM,
        "eigencam": g.EigenCAM,
        "hirescam": g.HiResCAM,
        "xgradcam": g.XGradCAM,
    }
    if method not in classes:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(CAM_METHODS)}")
    return classes[method]


class LogitDifference:
    """pytorch-grad-cam target: ``logit[pred] - logit[true]``, "what made it say B rather than A"."""

    def __init__(self, pred: int, true: int) -> None:
        self.pred = pred
        self.true = true

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.dim() == 1:
            return output[self.pred] - output[self.true]
        return output[:, self.pred] - output[:, self.true]


def cam_maps(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    targets: Sequence[Callable],
    *,
    method: str = "gradcam",
    layout: LayerLayout | None = None,
) -> np.ndarray:
    """One CAM per image (N x H x W, each min-max scaled to 0..1 by the library), one target per image.

    ``layout`` reads a token or channels-last layer as (N, C, H, W). A signed layer (tokens, channels-last)
    gets the in-pass CAM's own map (:func:`deviation_cam_maps`) at full resolution,
    whatever ``method`` says: pytorch-grad-cam's methods assume features whose zero means "absent".
    """
    if layout is not None and layout.signed:
        return deviation_cam_maps(model, layer, x, targets, layout=layout)
    if len(targets) != len(x):
        raise ValueError(f"{len(targets)} targets for {len(x)} images: pytorch-grad-cam zips them")
    # Parameters are frozen, so the input carries the graph that the library's backward needs.
    inp = x.detach().clone().requires_grad_(True)
    reshape = None if layout is None else layout.to_nchw
    cam = cam_class(method)(model=model, target_layers=[layer], reshape_transform=reshape)
    # Not its context manager: pytorch-grad-cam's __exit__ swallows IndexError; release the hooks ourselves.
    try:
        return cam(input_tensor=inp, targets=list(targets))
    finally:
        cam.activations_and_grads.release()


def deviation_cam_maps(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, targets: Sequence[Callable], *, layout: LayerLayout
) -> np.ndarray:
    """The in-pass CAM of a token or channels-last layer for a few images at input resolution, min-max
    scaled per image as pytorch-grad-cam scales its maps; the backward starts at the layer, as in the pass."""
    store: list[torch.Tensor] = []

    def hook(_m, _i, out):
        started = graph_start(out)
        if started is None:
            return None
        store.append(started[0])
        return started[1]

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            out = model(x.detach())
            score = sum(target(out[i]) for i, target in enumerate(targets))
            (grad,) = torch.autograd.grad(score, store[0])
    finally:
        handle.remove()
    cam = deviation_cam(layout.to_nchw(store[0].detach()), layout.to_nchw(grad), side=max(x.shape[2:]))
    cam = F.interpolate(cam[:, None], size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)[:, 0]
    low = cam.flatten(1).amin(dim=1)[:, None, None]
    high = cam.flatten(1).amax(dim=1)[:, None, None]
    return ((cam - low) / (high - low).clamp_min(1e-7)).cpu().numpy().astype(np.float32)


def class_target(k: int) -> Callable:
    """Target for one class logit."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return ClassifierOutputTarget(k)


def gradcam_from_pre(pre: np.ndarray, *, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam's GradCAM output from pre-ReLU maps (N x h x w): ReLU, min-max, bilinear resize to
    ``size`` (H, W) as cv2 does (half-pixel centres), min-max again; N x H x W float32 in 0..1."""
    cam = torch.from_numpy(np.nan_to_num(np.asarray(pre, dtype=np.float32))).clamp_min(0)
    cam = _minmax(cam)
    if tuple(cam.shape[-2:]) != tuple(size):
        cam = F.interpolate(cam[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    return _minmax(cam.clamp_min(0)).numpy()


def _minmax(cam: torch.Tensor) -> torch.Tensor:
    flat = cam.flatten(1)
    low = flat.amin(dim=1)[:, None, None]
    cam = cam - low
    return cam / (1e-7 + cam.flatten(1).amax(dim=1)[:, None, None])


def pair_maps_from_pass(
    pre: np.ndarray, scale: np.ndarray, *, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CAM(true), CAM(pred) and the contrastive map of ``logit_pred - logit_true``, from the pass's arrays.

    ``pre`` (N x 2 x h x w: channel 0 the predicted class, 1 the true class) and ``scale`` (N) are the
    :class:`~confusion_report.collectors.cams.CamCollector`'s ``cam_pre`` and ``cam_pre_scale`` rows.
    Grad-CAM is linear in its target before the ReLU, so the contrastive map is ``pre_pred - pre_true``.
    """
    maps = np.asarray(pre, dtype=np.float32) * np.asarray(scale, dtype=np.float32)[:, None, None, None]
    pred, true = maps[:, 0], maps[:, 1]
    return (
        gradcam_from_pre(true, size=size),
        gradcam_from_pre(pred, size=size),
        gradcam_from_pre(pred - true, size=size),
    )
