"""Grad-CAM for every image and pooled stage activations, both gathered inside the one pass.

The CAM costs one cheap backward per class: a forward hook replaces the target layer's output by a
detached copy that requires grad, so ``autograd.grad`` from the logits stops at that layer instead
of running through the whole network (parameters are frozen by the pass). CAMs are kept at low
resolution (at most :data:`CAM_SIDE` x :data:`CAM_SIDE`), max-normalised, as float16, for the
predicted and the true class of every image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .engine import Collector, _logits_of
from .loading import get_submodule

CAM_SIDE = 7
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


def low_res_cam(act: torch.Tensor, grad: torch.Tensor, *, side: int = CAM_SIDE) -> torch.Tensor:
    """Grad-CAM in fp32: ReLU of channels weighted by their spatially averaged gradient, pooled to <= side."""
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.float()).sum(dim=1, keepdim=True))
    h, w = cam.shape[2:]
    if h > side or w > side:
        cam = F.adaptive_avg_pool2d(cam, (min(h, side), min(w, side)))
    return cam[:, 0]


class CamCollector(Collector):
    """Low-resolution Grad-CAM of the predicted and the true class for every image.

    Result arrays: ``cams`` (n, 2, h, w) float16, each map divided by its maximum (channel 0 the
    predicted class, 1 the true class), and ``cam_max`` (n, 2) float32, the maxima before that.
    """

    name = "cams"
    needs_grad = True

    def __init__(self, layer: nn.Module, *, side: int = CAM_SIDE) -> None:
        self.layer = layer
        self.side = side
        self.act: torch.Tensor | None = None
        self.cams: np.ndarray | None = None
        self.maxima: np.ndarray | None = None
        self.n = 0
        self.handle = None

    def _hook(self, _m, _i, out):
        if not isinstance(out, torch.Tensor) or not torch.is_grad_enabled():
            return None
        # The replaced output starts a fresh graph: the backward below stops here.
        act = out.detach().requires_grad_(True)
        self.act = act
        # A clone, so that an in-place op after the layer (ReLU(inplace=True)) does not touch the leaf.
        return act.clone()

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        self.handle = self.layer.register_forward_hook(self._hook)

    def after_forward(self, idx, x, logits, labels) -> None:
        act, self.act = self.act, None
        if act is None or not logits.requires_grad:
            return
        pred = logits.detach().argmax(dim=1)
        targets = [pred] if labels is None else [pred, labels]
        maps = []
        for k, t in enumerate(targets):
            if k == 1 and torch.equal(t, pred):
                maps.append(maps[0])
                continue
            score = logits.float().gather(1, t[:, None]).sum()
            (grad,) = torch.autograd.grad(score, act, retain_graph=k + 1 < len(targets))
            maps.append(low_res_cam(act.detach(), grad, side=self.side))
        cams = torch.stack(maps, dim=1)
        top = cams.flatten(2).amax(dim=2)
        normed = cams / top.clamp_min(1e-12)[:, :, None, None]
        if self.cams is None:
            h, w = cams.shape[2:]
            self.cams = np.zeros((self.n, 2, h, w), dtype=np.float16)
            self.maxima = np.zeros((self.n, 2), dtype=np.float32)
        if labels is None:
            normed[:, 1] = float("nan")
        self.cams[idx] = normed.cpu().numpy().astype(np.float16)
        self.maxima[idx] = top.cpu().numpy()

    def detach(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
        self.act = None

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        if self.cams is None:
            return {}
        return {"cams": self.cams[keep], "cam_max": self.maxima[keep]}


class StageCollector(Collector):
    """Globally average-pooled output of each stage, per image (``stage:<name>`` arrays, float16)."""

    name = "stages"

    def __init__(self, layers: dict[str, nn.Module]) -> None:
        self.layers = layers
        self.current: dict[str, torch.Tensor] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.n = 0
        self.handles: list = []

    def attach(self, module: nn.Module, n: int) -> None:
        self.n = n
        for name, layer in self.layers.items():
            self.handles.append(layer.register_forward_hook(self._hook(name)))

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

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        return {f"stage:{name}": arr[keep] for name, arr in self.arrays.items()}


def logits_module(module: nn.Module) -> nn.Module:
    """A module returning plain logits (first element of a tuple, ``logits`` of a dict) for explainers."""

    class _Logits(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _logits_of(self.inner(x))

    return _Logits(module)
