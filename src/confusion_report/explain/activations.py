"""Feature maps of chosen layers for a few images: the most active channels, as small pictures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..loading import get_submodule

CHANNELS_SHOWN = 4


def feature_maps(model: nn.Module, root: nn.Module, layers: Sequence[str], x: torch.Tensor) -> dict[str, np.ndarray]:
    """Outputs (N x C x h x w) of the named layers of ``root`` for a batch, run through ``model``."""
    store: dict[str, np.ndarray] = {}
    handles = []
    for name in layers:

        def hook(_m, _i, out, name=name) -> None:
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                store[name] = out.detach().float().cpu().numpy()

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
