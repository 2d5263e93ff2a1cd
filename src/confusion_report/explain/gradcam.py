"""Grad-CAM family overlays with pytorch-grad-cam: per class, and contrastive (logit B minus logit A)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..layout import LayerLayout

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

    ``layout`` reads a token or channels-last layer as (N, C, H, W): pytorch-grad-cam takes it as its
    ``reshape_transform``, the same reshape as the in-pass CAM.
    """
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


def class_target(k: int) -> Callable:
    """Target for one class logit."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return ClassifierOutputTarget(k)
