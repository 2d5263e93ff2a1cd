"""LIME and KernelSHAP over superpixels (captum): a local linear surrogate fitted per image on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def superpixels(rgb: np.ndarray, *, n_segments: int = 24) -> np.ndarray:
    """SLIC superpixels of an H x W x 3 image in 0..1 (labels from 0); a regular grid if SLIC fails."""
    try:
        from skimage.segmentation import slic

        labels = slic(rgb, n_segments=n_segments, compactness=10.0, start_label=0)
    except Exception:
        labels = None
    if labels is None or labels.max() < 1:
        h, w = rgb.shape[:2]
        k = max(2, round(n_segments**0.5))
        rows = np.minimum(np.arange(h) * k // h, k - 1)
        cols = np.minimum(np.arange(w) * k // w, k - 1)
        labels = rows[:, None] * k + cols[None, :]
    return labels.astype(np.int64)


def surrogate_map(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    segments: np.ndarray,
    *,
    method: str,
    n_samples: int,
    per_eval: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """LIME (``lime``) or KernelSHAP (``shap``) weight of each superpixel, painted back onto H x W."""
    from captum.attr import KernelShap, Lime

    torch.manual_seed(seed)
    explainer = (Lime if method == "lime" else KernelShap)(model)
    mask = torch.as_tensor(segments, device=x.device)[None, None].expand(1, x.shape[0], *segments.shape)
    with torch.no_grad():
        attr = explainer.attribute(
            x[None],
            target=target,
            feature_mask=mask,
            baselines=0.0,
            n_samples=n_samples,
            perturbations_per_eval=per_eval,
        )
    return attr[0, 0].float().cpu().numpy()
