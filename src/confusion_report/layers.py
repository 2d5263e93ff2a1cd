"""Where to look inside a model: one probing forward records every output that can be read as maps, then
the target layer (for Grad-CAM) and the stages (for depth of separation) are chosen from those outputs.

An output can be read as maps when it is (N, C, H, W), channels-last (N, H, W, C) or tokens (N, L, C)
over a patch grid (:mod:`~confusion_report.layout`). The target is the last such layer, with parameters,
whose spatial positions still reach the logits: a second probing forward and backward of the same image
measures that, because in a ViT with a class-token head the patch tokens after the last block's attention
never reach the output (their CAM would be empty), while inside that block they do.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .layout import NCHW, TOKENS, LayerLayout, graph_start, infer_layout, main_tensor, replace_main, select_tokens
from .loading import find_final_linear, get_submodule
from .outputs import logits_of

MAX_STAGES = 8
# A layer reaches the output when this share of the gradient (of the top logit, on one probing image)
# falls on its spatial positions; disconnected tokens get exactly zero.
MIN_REACH = 1e-6


@dataclass(frozen=True)
class LayerShapes:
    """What one probing forward learned: the 3-D and 4-D outputs of named modules, in the order they
    finished, their input shapes, and how each output that can be read as maps is laid out."""

    order: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    layouts: dict[str, LayerLayout] = field(default_factory=dict)
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_hw: tuple[int, int] = (0, 0)


def prefix_hint(module: nn.Module) -> int | None:
    """How many non-patch tokens lead a token sequence, when the model says so (timm's ``num_prefix_tokens``;
    Hugging Face configs with ``num_register_tokens`` add them to the class token)."""
    n = getattr(module, "num_prefix_tokens", None)
    if isinstance(n, int):
        return n
    config = getattr(module, "config", None)
    registers = getattr(config, "num_register_tokens", None)
    return 1 + registers if isinstance(registers, int) else None


def trace_shapes(module: nn.Module, sample: torch.Tensor) -> LayerShapes:
    """Run one input through ``module`` with a hook on every named submodule; record 3-D and 4-D outputs."""
    x = sample[None] if sample.dim() == 3 else sample
    input_hw = (int(x.shape[-2]), int(x.shape[-1]))
    hint = prefix_hint(module)
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    inputs: dict[str, tuple[int, ...]] = {}
    layouts: dict[str, LayerLayout] = {}
    handles = []

    def hook(name: str, sub: nn.Module):
        def record(_m, args, out) -> None:
            t = main_tensor(out)
            if t is None or t.dim() not in (3, 4) or name in shapes:
                return
            shapes[name] = tuple(t.shape)
            order.append(name)
            if args and isinstance(args[0], torch.Tensor):
                inputs[name] = tuple(args[0].shape)
            # (N, C, H, W) maps get Grad-CAM even when their features are signed (a ConvNeXt stage): before
            # global pooling the gradient is the same at every position, so the deviation map would be
            # |CAM - mean CAM|, which counts positions with less evidence than average as evidence. On a tiny
            # ConvNeXt that learnt a corner cue it put 0.28 of its mass on the corner cell, Grad-CAM 0.55.
            layout = infer_layout(shapes[name], input_hw, module=sub, prefix_hint=hint)
            if layout is not None:
                layouts[name] = layout

        return record

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(hook(name, sub)))
    try:
        with torch.inference_mode():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return LayerShapes(tuple(order), shapes, layouts, inputs, input_hw)


def spatial_layers(shapes: LayerShapes) -> list[str]:
    """Names whose outputs read as maps of more than one position, in the order they finished."""
    return [n for n in shapes.order if n in shapes.layouts and np.prod(shapes.layouts[n].grid) > 1]


def find_target_layer(
    shapes: LayerShapes, module: nn.Module | None = None, *, reach: dict[str, float] | None = None
) -> str | None:
    """The last module (in the order modules finish) whose output still reads as maps.

    Hooks of a container fire after its children, so for a ResNet this is ``layer4``, not its last conv.
    With ``module``, trailing modules without parameters (VGG's 7x7 ``avgpool``, a final ReLU, a permute)
    are skipped for the block before them; parameters rather than types decide, because an unflattened
    ``.pt2`` loses the module types. With ``reach`` (from :func:`gradient_reach`), layers whose spatial
    positions do not reach the logits are left out.
    """
    spatial = spatial_layers(shapes)
    if reach is not None:
        spatial = [n for n in spatial if reach.get(n, 0.0) > MIN_REACH]
    while module is not None and len(spatial) > 1 and not _has_parameters(get_submodule(module, spatial[-1])):
        spatial.pop()
    return spatial[-1] if spatial else None


def _keep_head_input(module: nn.Module, kept: dict[str, torch.Tensor]) -> list:
    """A pre-hook on the model's final linear layer that keeps its input under ``kept["\0head"]``; its handles."""
    head = find_final_linear(module)
    if head is None:
        return []

    def keep(_m, args) -> None:
        if args and isinstance(args[0], torch.Tensor):
            kept.setdefault("\0head", args[0])

    return [get_submodule(module, head).register_forward_pre_hook(keep)]


def _decision_grads(
    logits: torch.Tensor, head_input: torch.Tensor | None, tensors: list[torch.Tensor]
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of the first image's top logit with respect to ``tensors`` (None where unused)."""
    grads = torch.autograd.grad(logits.float()[0].max(), tensors, allow_unused=True, retain_graph=True)
    if head_input is not None and all(g is None or not g.any() for g in grads):
        # A zero-initialised head (torchvision's ViT) passes no gradient at all: ask what the head reads
        # instead, the embedding.
        grads = torch.autograd.grad(head_input.float().pow(2).sum(), tensors, allow_unused=True)
    return grads


def gradient_reach(module: nn.Module, sample: torch.Tensor, shapes: LayerShapes) -> dict[str, float]:
    """Per layer that reads as maps: the share of the top logit's gradient that falls on its spatial
    positions (1.0 for a CNN; 0.0 for patch tokens that no longer reach a class-token head)."""
    x = (sample[None] if sample.dim() == 3 else sample).detach().clone().requires_grad_(True)
    kept: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name: str):
        def keep(_m, _i, out):
            t = main_tensor(out)
            if t is None or name in kept or tuple(t.shape) != shapes.shapes.get(name):
                return None
            kept[name] = t
            # The model goes on with a copy, so an in-place op after this layer leaves ``t`` intact.
            return replace_main(out, t.clone())

        return keep

    for name in spatial_layers(shapes):
        handles.append(get_submodule(module, name).register_forward_hook(hook(name)))
    handles.extend(_keep_head_input(module, kept))
    try:
        with torch.enable_grad():
            logits = logits_of(module(x))
            head_input = kept.pop("\0head", None)
            names = [n for n, t in kept.items() if t.requires_grad]
            grads = _decision_grads(logits, head_input, [kept[n] for n in names])
    finally:
        for h in handles:
            h.remove()
    reach: dict[str, float] = {}
    for name, grad in zip(names, grads, strict=True):
        if grad is None:
            reach[name] = 0.0
            continue
        total = float(grad.abs().sum())
        spatial = float(shapes.layouts[name].to_nchw(grad.abs()).sum())
        reach[name] = spatial / total if total > 0 else 0.0
    return reach


@dataclass(frozen=True)
class CamBackward:
    """What keeps the in-pass CAM's backward (from the logits to the target layer) small.

    ``params_after``: modules that run after the target; during the CAM pass their own parameters require
    grad. ``autograd.grad`` asks only for the target's gradient, so no weight gradient is ever computed, but
    PyTorch's matmul folds a non-contiguous 3-D input into one matrix product only when the weight requires
    grad: otherwise it expands the weight into a batched product, and the last block of torchvision's ViT
    (whose batch-first attention transposes its input) ran 1.7x slower with autograd on than off.

    ``rows``: modules after the target that act on each token alone, by name, with the leading tokens of
    their output that reach the logits (the class token, before a class-token head). In the pass those
    modules recompute just these rows with a graph and hand the rest on detached: the backward through the
    last block's MLP covers one token instead of all of them, with the same gradient.
    """

    params_after: tuple[str, ...] = ()
    rows: dict[str, tuple[int, ...]] = field(default_factory=dict)


def plan_cam_backward(
    module: nn.Module, sample: torch.Tensor, shapes: LayerShapes, target: str, *, hooked: tuple[str, ...] = ()
) -> CamBackward:
    """The :class:`CamBackward` of ``target``, from the probing trace and one probing forward and backward.

    A module after a token target gets ``rows`` when (1) on the probing image the gradient of the decision
    is exactly zero on all of its output's tokens but a few leading (non-patch) ones, and (2) it acts on
    tokens one by one: run on those rows alone, it gives the same rows. Only the outermost such modules are
    kept, and none that holds one of the ``hooked`` layers (their hooks would see the recomputed rows).
    """
    if target not in shapes.order:
        return CamBackward()
    after = [n for n in shapes.order[shapes.order.index(target) + 1 :] if not target.startswith(n + ".")]
    params = tuple(n for n in after if any(True for _ in get_submodule(module, n).parameters(recurse=False)))
    layout = shapes.layouts[target]
    candidates = [
        n
        for n in after
        if len(shapes.shapes[n]) == 3
        and shapes.shapes[n][1] == shapes.shapes[target][1]
        and not any(h == n or h.startswith(n + ".") for h in hooked)
    ]
    rows: dict[str, tuple[int, ...]] = {}
    if layout.kind == TOKENS and layout.prefix > 0 and candidates:
        rows = _token_rows(module, sample, target, candidates, prefix=layout.prefix)
    outermost = {n: r for n, r in rows.items() if not any(n.startswith(m + ".") for m in rows)}
    return CamBackward(params, outermost)


def _token_rows(
    module: nn.Module, sample: torch.Tensor, target: str, candidates: list[str], *, prefix: int
) -> dict[str, tuple[int, ...]]:
    """For :func:`plan_cam_backward`: the candidates whose output reaches the decision only through some of
    its first ``prefix`` tokens and that act on tokens one by one, with those tokens."""
    x = sample[None] if sample.dim() == 3 else sample
    kept: dict[str, torch.Tensor] = {}
    calls: dict[str, tuple[tuple, dict]] = {}

    def start(_m, _i, out):
        started = graph_start(out) if "\0target" not in kept else None
        if started is None:
            return None
        # The graph starts here: the probe's backward covers only what runs after the target.
        kept["\0target"], replaced = started
        return replaced

    def hook(name: str):
        def keep(_m, args, kwargs, out) -> None:
            t = main_tensor(out)
            if t is not None and name not in kept and t.requires_grad:
                kept[name] = t
                calls[name] = (args, kwargs)

        return keep

    handles = [get_submodule(module, target).register_forward_hook(start)]
    handles += [get_submodule(module, n).register_forward_hook(hook(n), with_kwargs=True) for n in candidates]
    handles += _keep_head_input(module, kept)
    try:
        with torch.enable_grad():
            logits = logits_of(module(x))
            head_input = kept.pop("\0head", None)
            kept.pop("\0target", None)
            names = list(kept)
            grads = _decision_grads(logits, head_input, [kept[n] for n in names]) if names else ()
    finally:
        for h in handles:
            h.remove()
    found: dict[str, tuple[int, ...]] = {}
    for name, grad in zip(names, grads, strict=True):
        if grad is None:
            continue
        reaching = tuple(int(i) for i in torch.nonzero(grad.abs().sum(dim=(0, 2))).flatten())
        if (
            reaching
            and reaching[-1] < prefix
            and _acts_per_token(get_submodule(module, name), *calls[name], kept[name], reaching)
        ):
            found[name] = reaching
    return found


def _acts_per_token(sub: nn.Module, args: tuple, kwargs: dict, out: torch.Tensor, rows: tuple[int, ...]) -> bool:
    """Does ``sub``, run on ``rows`` of its token inputs alone, give the same rows of ``out``?"""
    if kwargs or not args:
        return False
    index = torch.tensor(rows, device=out.device)
    with torch.no_grad():
        part = main_tensor(sub(*select_tokens(args, index, tuple(out.shape[:2]))))
    expected = out.detach().index_select(1, index)
    if part is None or part.shape != expected.shape:
        return False
    return bool(torch.allclose(part, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max().clamp_min(1e-6))))


@dataclass(frozen=True)
class TargetChoice:
    """The layer the CAMs are taken at, how its output is read as maps, and what made the choice uncertain."""

    name: str
    layout: LayerLayout
    notes: tuple[str, ...] = ()
    # The layer the stages are found around: the last spatial layer, also when the CAM layer lies inside it.
    stage_anchor: str | None = None


def choose_target(module: nn.Module, sample: torch.Tensor, shapes: LayerShapes) -> TargetChoice | None:
    """The target layer: the last one whose output reads as maps, has parameters and whose spatial
    positions reach the logits (:func:`gradient_reach`); None when no output reads as maps."""
    notes: list[str] = []
    try:
        reach = gradient_reach(module, sample, shapes)
    except Exception as exc:  # a model that cannot run a backward still gets a (less sure) target
        reach = None
        notes.append(f"could not check which layers reach the output ({str(exc).strip()[:120]})")
    name = find_target_layer(shapes, module, reach=reach)
    if name is None and reach is not None:
        name = find_target_layer(shapes, module)
        if name is not None:
            notes.append("no layer's spatial positions reach the output; the last spatial layer was taken")
    if name is None:
        return None
    anchor = name
    if shapes.layouts[name].kind != NCHW:
        name = _inside_last_block(module, shapes, name, reach)
    else:
        name = _before_regrouping(module, shapes, name)
    layout = shapes.layouts[name]
    if layout.uncertain:
        notes.append(layout.uncertain)
    spatial = spatial_layers(shapes)
    if len(spatial) > 1 and name == spatial[0]:
        notes.append("it is the first layer with a spatial output (an input projection?)")
    if notes:
        notes = [
            f"the Grad-CAM layer {name} ({layout.describe()}) is an uncertain choice: "
            + "; ".join(notes)
            + ". Pass --target-layer to choose another."
        ]
    return TargetChoice(name, layout, tuple(notes), stage_anchor=anchor)


def _before_regrouping(module: nn.Module, shapes: LayerShapes, name: str) -> str:
    """For an (N, C, H, W) layer whose last part regroups its map's positions (into windows or a grid for
    attention, as MaxViT's blocks do), the last map inside it that holds no regrouping: the input of its
    last attention, whose positions that attention has not yet mixed. ``name`` when nothing regroups.

    A module regroups when its input is a map of the layer's grid and its output holds as many values in
    another shape than the map or its channels-last permutation, (N, windows, positions, C) say. On a
    tiny MaxViT that learnt a corner cue, Grad-CAM put 0.62-0.66 of its mass on the corner there against
    0.51-0.63 at the block's output."""
    grid = shapes.layouts[name].grid

    def is_map(m: str) -> bool:
        layout = shapes.layouts.get(m)
        return layout is not None and layout.kind == NCHW and layout.grid == grid

    def regroups(m: str) -> bool:
        given, out = shapes.inputs.get(m), shapes.shapes[m]
        if given is None or len(given) != 4 or tuple(given[2:]) != grid or is_map(m):
            return False
        return int(np.prod(out)) == int(np.prod(given)) and out != (given[0], *given[2:], given[1])

    inside = [m for m in shapes.order if m.startswith(name + ".")]
    regrouping = [m for m in inside if regroups(m)]
    if not regrouping:
        return name
    local = [
        m
        for m in inside
        if is_map(m)
        and _has_parameters(get_submodule(module, m))
        and not any(r.startswith(m + ".") for r in regrouping)
        and shapes.order.index(m) < shapes.order.index(regrouping[-1])
    ]
    return local[-1] if local else name


def _inside_last_block(module: nn.Module, shapes: LayerShapes, name: str, reach: dict[str, float] | None) -> str:
    """For a transformer, the first layer inside its last block that has parameters and reaches the output
    (the block's first norm): its tokens have not yet been mixed by that block's attention, which after
    a class-token head or a global window spreads the evidence over every position. ``name`` without blocks."""
    blocks = _blocks(module, shapes)
    if not blocks:
        return name
    prefix = blocks[-1] + "."
    inside = [
        n
        for n in spatial_layers(shapes)
        if n.startswith(prefix)
        and _has_parameters(get_submodule(module, n))
        and (reach is None or reach.get(n, 0.0) > MIN_REACH)
    ]
    return inside[0] if inside else name


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _is_container(module: nn.Module, name: str) -> bool:
    return any(True for _ in get_submodule(module, name).children())


def find_stages(module: nn.Module, shapes: LayerShapes, target: str) -> tuple[str, ...]:
    """The stages whose pooled outputs measure depth of separation.

    Transformers (a token or channels-last target): one stage per block, the blocks being the largest
    series of modules named alike but for their indices (``blocks.3``, ``layers.1.blocks.0``) that keep
    their input's shape. CNNs: the siblings of the target layer (same parent) that produce maps before
    it, ending with the target; containers (``layer1`` ... ``layer4``) are preferred over single
    convolutions and norms when there are at least two; with fewer than two, the target's own children.
    Either way at most :data:`MAX_STAGES`, evenly spread.
    """
    stages = _blocks(module, shapes) if shapes.layouts[target].kind != NCHW else []
    if len(stages) < 2:
        stages = _cnn_stages(module, shapes, target)
    if len(stages) > MAX_STAGES:  # e.g. VGG's flat features or a 12-block ViT; keep an even spread
        keep = np.unique(np.linspace(0, len(stages) - 1, MAX_STAGES).round().astype(int))
        stages = [stages[k] for k in keep]
    return tuple(stages)


def _blocks(module: nn.Module, shapes: LayerShapes) -> list[str]:
    """The largest series of shape-keeping containers named alike but for their indices; outermost on ties."""
    series: dict[str, list[str]] = defaultdict(list)
    for name in spatial_layers(shapes):
        pattern = re.sub(r"\d+", "#", name)
        keeps_shape = shapes.inputs.get(name, shapes.shapes[name]) == shapes.shapes[name]
        if pattern != name and keeps_shape and _is_container(module, name):
            series[pattern].append(name)
    if not series:
        return []
    _, best = max(series.items(), key=lambda kv: (len(kv[1]), -kv[0].count(".")))
    return best


def _cnn_stages(module: nn.Module, shapes: LayerShapes, target: str) -> list[str]:
    parent = target.rpartition(".")[0]
    spatial = spatial_layers(shapes)
    done = spatial[: spatial.index(target) + 1] if target in spatial else [*spatial, target]
    siblings = [n for n in done if n.rpartition(".")[0] == parent]
    containers = [n for n in siblings if _is_container(module, n)]
    stages = containers if len(containers) >= 2 else siblings
    if len(stages) < 2:
        prefix = target + "."
        kids = [n for n in done if n.startswith(prefix) and "." not in n[len(prefix) :]]
        kid_containers = [n for n in kids if _is_container(module, n)]
        kids = kid_containers if len(kid_containers) >= 2 else kids
        # The last child's output is usually the target's own output (a Sequential): keep the target's name.
        stages = [*(kids[:-1] if kids and len(done) > 1 and kids[-1] == done[-2] else kids), target] if kids else stages
    if target not in stages:
        stages.append(target)
    return stages
