"""Feature maps of chosen layers for a few images: the most active channels, as small pictures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..layout import LayerLayout, main_tensor
from ..loading import get_submodule

CHANNELS_SHOWN = 4


def feature_maps(
    model: nn.Module,
    root: nn.Module,
    layers: Sequence[str],
    x: torch.Tensor,
    *,
    layouts: dict[str, LayerLayout] | None = None,
) -> dict[str, np.ndarray]:
    """Outputs (N x C x h x w) of the named layers of ``root`` for a batch, run through ``model``; token and
    channels-last outputs are read as maps through their ``layouts``."""
    store: dict[str, np.ndarray] = {}
    handles = []
    layouts = layouts or {}
    for name in layers:

        def hook(_m, _i, out, name=name) -> None:
            t = main_tensor(out)
            if t is not None and name in layouts:
                t = layouts[name].to_nchw(t)
            if t is not None and t.dim() == 4:
                store[name] = t.detach().float().cpu().numpy()

        handles.append(get_submodule(root, name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return store


def top_channels(maps: np.ndarray, *, k: int = CHANNELS_SHOWN) -> np.ndarray:
    """Indices of the ``k`` channels with the highest mean activation in one C x h x w map."""
    return np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:k]
