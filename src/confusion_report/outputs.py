"""From whatever a model's forward returns to the logits the report is about."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import nn


def logits_of(out) -> torch.Tensor:
    """The classification output of a forward: the first element of a tuple or list, ``logits`` of a dict
    or of an output object (Hugging Face's ``ImageClassifierOutput``, any dataclass with a ``logits``
    field), else the object's first tensor field."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return logits_of(out[0])
    if isinstance(out, Mapping):  # also Hugging Face ModelOutput, an OrderedDict of its non-None fields
        return logits_of(out["logits"] if "logits" in out else next(iter(out.values())))
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if dataclasses.is_dataclass(out):
        for f in dataclasses.fields(out):
            value = getattr(out, f.name)
            if isinstance(value, torch.Tensor):
                return value
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
