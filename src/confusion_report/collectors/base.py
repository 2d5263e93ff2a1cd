"""The base of every collector: what the one pass gathers per image besides the logits.

A collector registers its hooks through :meth:`Collector.hook_forward` / :meth:`Collector.hook_pre`;
the pass enters :meth:`Collector.attached`, a context manager that always removes them again, also
when a batch fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn


class Collector:
    """Something the one pass gathers per image besides the logits (embeddings, CAMs, statistics...).

    The pass enters ``attached(module, n)`` once before the first batch (``attach``: register hooks,
    allocate arrays for ``n`` images), calls ``after_forward`` after each batch's forward (``idx`` are
    positions in the path list, ``labels`` the true output indices or None), and ``result(keep)`` at the
    end for arrays restricted to the decoded images. A collector that needs gradients sets
    ``needs_grad``; the pass then runs with autograd enabled but with every parameter frozen, so only
    what the collector marks as requiring grad builds a graph. ``cache_key`` names what the collector
    depends on beyond its class (layers), for the pass cache.
    """

    name: str = "collector"
    needs_grad: bool = False
    cache_key: str = ""

    @property
    def _handles(self) -> list:
        # Created on first use so that subclasses need not call super().__init__().
        if "_hook_handles" not in self.__dict__:
            self.__dict__["_hook_handles"] = []
        return self.__dict__["_hook_handles"]

    def hook_forward(self, layer: nn.Module, fn: Callable) -> None:
        """Register a forward hook that :meth:`detach` removes."""
        self._handles.append(layer.register_forward_hook(fn))

    def hook_pre(self, layer: nn.Module, fn: Callable) -> None:
        """Register a forward pre-hook that :meth:`detach` removes."""
        self._handles.append(layer.register_forward_pre_hook(fn))

    @contextlib.contextmanager
    def attached(self, module: nn.Module, n: int) -> Iterator[Collector]:
        """Attach for ``n`` images; the hooks are removed on leaving, whatever happened."""
        try:
            self.attach(module, n)
            yield self
        finally:
            self.detach()

    def attach(self, module: nn.Module, n: int) -> None:
        """Register hooks and allocate per-image arrays."""

    def after_forward(
        self, idx: np.ndarray, x: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None
    ) -> None:
        """Consume one batch (``x`` as the model saw it, ``logits`` its output)."""

    def loader_measure(self) -> Callable[[torch.Tensor], dict[str, np.ndarray]] | None:
        """A picklable function of a batch of preprocessed images (on the CPU, before the forward) that the
        data loader's workers may run instead of the main process: what it returns reaches
        :meth:`take_measured`. None (the default): the collector measures nothing in the loader."""
        return None

    def take_measured(self, idx: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Store what :meth:`loader_measure` returned for the images at positions ``idx`` (called before
        their forward)."""

    def detach(self) -> None:
        """Remove every hook this collector registered."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays for the decoded images (rows ``keep``), by name."""
        return {}


def take_rows(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``array[keep]``, without the copy when ``keep`` is every row (no image failed): at 100k images the
    per-image arrays are the build's memory, and a second copy of each would double it."""
    if len(keep) == len(array) and (len(keep) == 0 or (keep[0] == 0 and keep[-1] == len(array) - 1)):
        return array  # keep is sorted and unique, so first 0 and last n-1 with length n means all rows
    return array[keep]
