"""Globally pooled stage activations for every image, gathered inside the one pass."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import Collector


class StageCollector(Collector):
    """Globally average-pooled output of each stage, per image (``stage:<name>`` arrays, float16)."""

    name = "stages"

    def __init__(self, layers: dict[str, nn.Module]) -> None:
        self.layers = layers
        self.current: dict[str, torch.Tensor] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.n = 0

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        for name, layer in self.layers.items():
            self.hook_forward(layer, self._hook(name))

    def _hook(self, name: str):
        def record(_m, _i, out) -> None:
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                self.current[name] = out.detach().float().mean(dim=(2, 3))

        return record

    def after_forward(self, idx, x, logits, labels) -> None:
        for name, pooled in self.current.items():
            if name not in self.arrays:
                self.arrays[name] = np.zeros((self.n, pooled.shape[1]), dtype=np.float16)
            self.arrays[name][idx] = pooled.cpu().numpy()
        self.current.clear()

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        return {f"stage:{name}": arr[keep] for name, arr in self.arrays.items()}
