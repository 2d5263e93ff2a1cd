"""The embedding: the input (default) or output of one layer, flattened, for every image."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import Collector, take_rows


class EmbeddingCollector(Collector):
    """The input (default) or output of one layer, flattened: the penultimate embedding."""

    name = "embedding"

    def __init__(self, layer: nn.Module, *, output: bool = False) -> None:
        self.layer = layer
        self.output = output
        self.store: list[torch.Tensor] = []
        self.array: np.ndarray | None = None
        self.n = 0

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        if self.output:
            self.hook_forward(self.layer, lambda _m, _i, out: self.store.append(out))
        else:
            self.hook_pre(self.layer, lambda _m, inp: self.store.append(inp[0]))

    def after_forward(self, idx, x, logits, labels) -> None:
        if not self.store:
            return
        emb = self.store[-1].detach().flatten(1).float().cpu().numpy()
        self.store.clear()
        if self.array is None:
            self.array = np.zeros((self.n, emb.shape[1]), dtype=np.float32)
        self.array[idx] = emb

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        return {} if self.array is None else {"embedding": take_rows(self.array, keep)}
