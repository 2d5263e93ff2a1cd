"""Where to look inside a model: one probing forward records every 4-D output, then the target layer
(for Grad-CAM) and the stages (for depth of separation) are chosen from those shapes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .loading import get_submodule

MAX_STAGES = 8


@dataclass(frozen=True)
class LayerShapes:
    """What one probing forward learned: 4-D outputs of named modules, in the order they finished."""

    order: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]


def trace_shapes(module: nn.Module, sample: torch.Tensor) -> LayerShapes:
    """Run one input through ``module`` with a hook on every named submodule; record 4-D output shapes."""
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def hook(name: str):
        def record(_m, _i, out) -> None:
            if isinstance(out, torch.Tensor) and out.dim() == 4 and name not in shapes:
                shapes[name] = tuple(out.shape)
                order.append(name)

        return record

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(hook(name)))
    try:
        with torch.inference_mode():
            module(sample[None] if sample.dim() == 3 else sample)
    finally:
        for h in handles:
            h.remove()
    return LayerShapes(tuple(order), shapes)


def find_target_layer(shapes: LayerShapes, module: nn.Module | None = None) -> str | None:
    """The last module (in the order modules finish) whose output is still spatial (4-D, more than 1x1).

    Hooks of a container fire after its children, so for a ResNet this is ``layer4``, not its last conv.
    With ``module``, trailing modules without parameters (VGG's 7x7 ``avgpool``, a final ReLU) are skipped
    for the block before them; parameters rather than types decide, because an unflattened ``.pt2``
    loses the module types.
    """
    spatial = [n for n in shapes.order if shapes.shapes[n][2] * shapes.shapes[n][3] > 1]
    while module is not None and len(spatial) > 1 and not _has_parameters(get_submodule(module, spatial[-1])):
        spatial.pop()
    return spatial[-1] if spatial else None


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def find_stages(module: nn.Module, shapes: LayerShapes, target: str) -> tuple[str, ...]:
    """The stages whose pooled outputs measure depth of separation, ending with ``target``.

    Stages are the siblings of the target layer (same parent) that produce 4-D outputs before it;
    containers (``layer1`` ... ``layer4``) are preferred over single convolutions and norms when
    there are at least two. With fewer than two, the target's own 4-D children are used.
    """
    parent = target.rpartition(".")[0]
    done = shapes.order[: shapes.order.index(target) + 1]
    siblings = [n for n in done if n.rpartition(".")[0] == parent]
    containers = [n for n in siblings if any(True for _ in get_submodule(module, n).children())]
    stages = containers if len(containers) >= 2 else siblings
    if len(stages) < 2:
        prefix = target + "."
        kids = [n for n in done if n.startswith(prefix) and "." not in n[len(prefix) :]]
        kid_containers = [n for n in kids if any(True for _ in get_submodule(module, n).children())]
        kids = kid_containers if len(kid_containers) >= 2 else kids
        # The last child's output is usually the target's own output (a Sequential): keep the target's name.
        stages = [*(kids[:-1] if kids and kids[-1] == done[-2] else kids), target] if kids else stages
    if target not in stages:
        stages.append(target)
    if len(stages) > MAX_STAGES:  # e.g. VGG's flat features: every conv and ReLU is a child; keep an even spread
        keep = np.unique(np.linspace(0, len(stages) - 1, MAX_STAGES).round().astype(int))
        stages = [stages[k] for k in keep]
    return tuple(stages)
