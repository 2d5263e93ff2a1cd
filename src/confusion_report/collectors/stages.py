"""Globally pooled stage activations for every image, gathered inside the one pass.

Token and channels-last outputs are read as (N, C, H, W) through each stage's layout (leading class or
register tokens dropped), so a stage is pooled over its spatial positions whatever the family.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..layout import LayerLayout, main_tensor
from .base import Collector


class StageCollector(Collector):
    """Globally average-pooled output of each stage, per image (``stage:<name>`` arrays, float16)."""

    name = "stages"

    def __init__(self, layers: dict[str, nn.Module], *, layouts: dict[str, LayerLayout] | None = None) -> None:
        self.layers = layers
        self.layouts = layouts or {}  # a stage without one is (N, C, H, W)
        self.current: dict[str, torch.Tensor] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.n = 0

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        for name, layer in self.layers.items():
            self.hook_forward(layer, self._hook(name))

    def _hook(self, name: str):
        def record(_m, _i, out) -> None:
            t = main_tensor(out)
            if t is None:
                return
            layout = self.layouts.get(name)
            maps = t.detach() if layout is None else layout.to_nchw(t.detach())
            if maps.dim() == 4:
                self.current[name] = maps.float().mean(dim=(2, 3))

        return record

    def after_forward(self, idx, x, logits, labels) -> None:
        for name, pooled in self.current.items():
            if name not in self.arrays:
                self.arrays[name] = np.zeros((self.n, pooled.shape[1]), dtype=np.float16)
            self.arrays[name][idx] = pooled.cpu().numpy()
        self.current.clear()

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        return {f"stage:{name}": arr[keep] for name, arr in self.arrays.items()}
