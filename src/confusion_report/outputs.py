"""From whatever a model's forward returns to the logits the report is about."""

from __future__ import annotations

import torch
from torch import nn


def logits_of(out) -> torch.Tensor:
    """The classification output of a forward: the first element of a tuple or list, ``logits`` of a dict."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values())))
    return out


class LogitsModule(nn.Module):
    """Wraps a model so that it returns plain logits, as explainers (pytorch-grad-cam, captum) expect."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_of(self.inner(x))


def logits_module(module: nn.Module) -> nn.Module:
    """A module returning plain logits for explainers."""
    return LogitsModule(module)
