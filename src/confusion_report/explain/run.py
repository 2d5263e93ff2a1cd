"""Run the chosen explainers over the gallery images of each top pair; return results and pictures.

Every picture comes back as numbers (:mod:`.pictures`) under an ``xp:`` or ``xa:`` media key; the
media stage encodes them with the thumbnails, so nothing here writes an image file or a data URI.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..analyses.channels import channel_contrasts
from ..analyses.predictions import Predictions
from ..collectors.cams import CamCollector
from ..data import load_rgb
from ..engine import autocast_for
from ..forward_budget import DEFAULT_SHARE, overlay_forwards
from ..layout import LayerLayout
from ..loading import LoadedModel, get_submodule
from ..outputs import logits_module
from ..results import (
    ExplainCost,
    ExplainImage,
    ExplainInfo,
    FeatureMapView,
    Gallery,
    Pair,
    PairActivations,
    PairExplanation,
    PreprocessInfo,
)
from .activations import feature_maps, top_channels
from .gradcam import LogitDifference, cam_maps, class_target, pair_maps_from_pass
from .occlusion import occlusion_maps, plan_occlusion
from .pictures import FeatureMapPicture, OverlayPicture, Picture
from .surrogate import superpixels, surrogate_map

EXPLAIN_METHODS = ("gradcam", "occlusion", "lime", "shap")
DEFAULT_EXPLAIN = ("gradcam", "occlusion")
OUTSIDE_BUDGET = ("lime", "shap")  # opt-in: their cost is stated, not bounded


# ``--explain-budget``: the build's extra forwards as a share of the pass's images; the overlays may spend
# half of it (forward_budget.py), never fewer than 100 forwards.
DEFAULT_BUDGET = DEFAULT_SHARE


@dataclass(frozen=True)
class ExplainOptions:
    """Which explainers run on the gallery images, and their knobs."""

    methods: tuple[str, ...] = DEFAULT_EXPLAIN
    cam_method: str = "gradcam"
    occlusion_window: int | None = None
    occlusion_stride: int | None = None
    n_samples: int = 200
    batch_size: int = 32
    budget: float = DEFAULT_BUDGET


@dataclass(frozen=True)
class PassOutputs:
    """What the explain stage reuses from the pass: its logits and pre-ReLU CAMs, rows found by path."""

    rows: dict[str, int]
    logits: np.ndarray
    labels: np.ndarray
    cam_pre: np.ndarray | None = None  # CamCollector's ``cam_pre``: (n, 2, h, w), predicted then true class
    cam_pre_scale: np.ndarray | None = None


def budget_forwards(n_pass: int, budget: float) -> int:
    """The forwards the explain stage may spend by default for a pass over ``n_pass`` images: its part of
    the build's allowance (:func:`~confusion_report.forward_budget.overlay_forwards`)."""
    return overlay_forwards(n_pass, budget)


def parse_methods(text: str | None) -> tuple[str, ...]:
    """``"gradcam,occlusion"`` -> a checked tuple; ``none`` or empty turns overlays off; ``all`` runs everything."""
    if text is None:
        return DEFAULT_EXPLAIN
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if items in ([], ["none"]):
        return ()
    if items == ["all"]:
        return EXPLAIN_METHODS
    unknown = [t for t in items if t not in EXPLAIN_METHODS]
    if unknown:
        raise ValueError(f"unknown --explain method(s) {', '.join(unknown)}; choose from {', '.join(EXPLAIN_METHODS)}")
    return tuple(dict.fromkeys(items))


def _display(t: torch.Tensor, prep: PreprocessInfo) -> np.ndarray:
    """The model's input tensor back to an H x W x 3 picture in 0..1 (undo the normalisation)."""
    x = t.detach().float().cpu()
    if prep.mean is not None and prep.std is not None:
        x = x * torch.tensor(prep.std)[:, None, None] + torch.tensor(prep.mean)[:, None, None]
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


# Overlays explain every error of a gallery and, for comparison, its first typical images of each class
# (the gallery itself shows more): the explain pass costs a forward per occlusion window of this batch.
TYPICAL_EXPLAINED = 2


def _gallery_images(g: Gallery) -> list[tuple[str, str]]:
    return (
        [(i.path, "error") for i in g.errors]
        + [(i.path, "typical_true") for i in g.typical_true[:TYPICAL_EXPLAINED]]
        + [(i.path, "typical_pred") for i in g.typical_pred[:TYPICAL_EXPLAINED]]
    )


@dataclass
class _Item:
    """One gallery image on its way to the overlays."""

    gallery: int
    k: int
    path: str
    role: str
    x: torch.Tensor
    row: int | None  # in the pass's arrays
    pred: int
    pre: np.ndarray | None = None  # (2, h, w): pre-ReLU maps of the pair's predicted then true class
    maps: dict[str, np.ndarray] = field(default_factory=dict)


def explain_galleries(
    loaded: LoadedModel,
    galleries: Sequence[Gallery],
    *,
    names: Sequence[str],
    root: Path,
    transform: Callable,
    prep: PreprocessInfo,
    device: torch.device,
    target_layer: str | None,
    options: ExplainOptions,
    passed: PassOutputs,
    reserved: int = 0,
    target_layout: LayerLayout | None = None,
) -> tuple[ExplainInfo, dict[str, Picture]]:
    """Overlays for the gallery images of every pair: CAM(A), CAM(B), B - A, occlusion, LIME, SHAP.

    Grad-CAM maps of the errors come from the pass (``passed.cam_pre``): no forward, no backward. The
    typical images need the map of the other class, one batched forward and a backward to the CAM layer.
    Occlusion spends what is left of the budget (``reserved`` forwards are already promised to the
    activation views), errors first, one per pair before a second; its clean logits are the pass's.
    """
    started = time.perf_counter()
    methods = list(options.methods)
    notes: list[str] = []
    if "gradcam" in methods and (not loaded.hookable or target_layer is None):
        methods.remove("gradcam")
        why = (
            f"{loaded.format} modules cannot be hooked"
            if not loaded.hookable
            else "no layer with a spatial output was found"
        )
        notes.append(f"Grad-CAM is unavailable ({why}); occlusion is shown instead.")
        if "occlusion" not in methods:
            methods.insert(0, "occlusion")
    model = logits_module(loaded.module).to(device).eval()
    with contextlib.suppress(Exception):  # frozen: the CAM backward stops at the layer's detached output
        loaded.module.requires_grad_(False)
    layer = get_submodule(loaded.module, target_layer) if "gradcam" in methods and target_layer else None
    autocast, _ = autocast_for(device)
    n_pass = len(passed.logits)
    allowed = budget_forwards(n_pass, options.budget)
    costs: dict[str, list[float]] = {}
    items = _load_items(galleries, names=names, root=root, transform=transform, passed=passed)
    by_gallery: dict[int, list[_Item]] = {}
    for it in items:
        by_gallery.setdefault(it.gallery, []).append(it)

    columns_of: dict[int, list[str]] = {gi: [] for gi in by_gallery}
    signed: set[str] = set()
    cam_source = None
    if "gradcam" in methods and layer is not None:
        t = time.perf_counter()
        # Signed layers (tokens, channels-last) get the deviation map, which is not
        # linear in the target after its absolute value: those maps are computed here, not from the pass.
        signed_layer = target_layout is not None and target_layout.signed
        if options.cam_method == "gradcam" and not signed_layer:
            forwards = _plain_cams(
                model, layer, galleries, names, items, passed, device, options.batch_size, layout=target_layout
            )
            cam_source = "pass" if passed.cam_pre is not None else "explain forward"
        else:
            forwards = _library_cams(
                model, layer, galleries, names, by_gallery, device, options.cam_method, layout=target_layout
            )
            cam_source = "deviation map (signed layer)" if signed_layer else "pytorch-grad-cam"
        for gi, its in by_gallery.items():
            g = galleries[gi]
            titles = (
                ["EigenCAM"]
                if options.cam_method == "eigencam"
                else [f"CAM {g.true}", f"CAM {g.pred}", f"{g.pred} − {g.true}"]
            )
            columns_of[gi].extend(title for title in titles if any(title in it.maps for it in its))
        costs["gradcam"] = [forwards, time.perf_counter() - t]
    window = stride = None
    occluded: list[_Item] = []
    positions = 0
    if "occlusion" in methods and items:
        t = time.perf_counter()
        spent = sum(int(c[0]) for c in costs.values())
        order = _occlusion_order(by_gallery)
        side = min(items[0].x.shape[1], items[0].x.shape[2])
        plan = plan_occlusion(
            side,
            list(range(len(order))),
            leads=sum(1 for its in by_gallery.values() if any(it.role == "error" for it in its)),
            budget=allowed - spent - reserved,
            window=options.occlusion_window,
            stride=options.occlusion_stride,
        )
        occluded = [order[i] for i in plan.images]
        window, stride, positions = plan.window, plan.stride, plan.positions
        if occluded:
            x = torch.stack([it.x for it in occluded]).to(device)
            targets = torch.tensor([it.pred for it in occluded])
            clean = None
            if all(it.row is not None for it in occluded):
                rows = [it.row for it in occluded]
                clean = torch.from_numpy(passed.logits[rows][np.arange(len(rows)), targets.numpy()])
            heat = occlusion_maps(model, x, targets, window=window, stride=stride, clean=clean, autocast=autocast)
            for it, h in zip(occluded, heat, strict=True):
                it.maps["occlusion"] = h
            for gi, its in by_gallery.items():
                if any("occlusion" in it.maps for it in its):
                    columns_of[gi].append("occlusion")
        signed.add("occlusion")
        costs["occlusion"] = [
            plan.forwards + (0 if _clean_from_pass(occluded) else len(occluded)),
            time.perf_counter() - t,
        ]
    for method in OUTSIDE_BUDGET:
        if method in methods and items:
            t = time.perf_counter()
            title = "LIME" if method == "lime" else "SHAP"
            for it in items:
                seg = superpixels(_display(it.x, prep))
                it.maps[title] = surrogate_map(
                    model, it.x.to(device), it.pred, seg, method=method, n_samples=options.n_samples
                )
            for gi in by_gallery:
                columns_of[gi].append(title)
            signed.add(title)
            costs[method] = [len(items) * options.n_samples, time.perf_counter() - t]
    if reserved:
        costs["activations"] = [reserved, 0.0]

    pictures: dict[str, Picture] = {}
    out_pairs = []
    for gi, its in by_gallery.items():
        g = galleries[gi]
        columns = columns_of[gi]
        images = []
        for k, it in enumerate(its):
            rgb = _display(it.x, prep)
            overlays = {}
            for c, title in enumerate(columns):
                if title not in it.maps:
                    continue
                key = f"xp:{g.anchor}:{k}:{c}"
                pictures[key] = OverlayPicture(rgb, it.maps[title], signed=title in signed)
                overlays[title] = key
            images.append(
                ExplainImage(
                    path=it.path, role=it.role, true=_label(it.role, g), pred=names[it.pred], overlays=overlays
                )
            )
        out_pairs.append(
            PairExplanation(true=g.true, pred=g.pred, anchor=g.anchor, columns=tuple(columns), images=tuple(images))
        )
    info = ExplainInfo(
        methods=tuple(methods),
        cam_method=options.cam_method if "gradcam" in methods else None,
        target_layer=target_layer if "gradcam" in methods else None,
        occlusion_window=window,
        occlusion_stride=stride,
        n_samples=options.n_samples if {"lime", "shap"} & set(methods) else None,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
        pairs=tuple(out_pairs),
        cam_source=cam_source,
        budget=options.budget,
        budget_forwards=allowed,
        n_pass=n_pass,
        gallery_errors=sum(1 for it in items if it.role == "error"),
        occluded_errors=sum(1 for it in occluded if it.role == "error"),
        occluded_images=len(occluded),
        occlusion_positions=positions,
        costs=tuple(ExplainCost(m, int(f), float(sec)) for m, (f, sec) in costs.items()),
    )
    return info, pictures


def _clean_from_pass(items: Sequence[_Item]) -> bool:
    """True when every item's clean logits come from the pass (no forward to compute them)."""
    return all(it.row is not None for it in items)


def _load_items(
    galleries: Sequence[Gallery],
    *,
    names: Sequence[str],
    root: Path,
    transform: Callable,
    passed: PassOutputs,
) -> list[_Item]:
    """Decode and preprocess every gallery image once (a path may sit in several galleries)."""
    cache: dict[str, torch.Tensor | None] = {}
    items = []
    for gi, g in enumerate(galleries):
        k = 0
        for path, role in _gallery_images(g):
            if path not in cache:
                try:
                    img, _ = load_rgb(root / path)
                    cache[path] = transform(img)
                except (ValueError, OSError):
                    cache[path] = None
            if cache[path] is None:
                continue
            row = passed.rows.get(path)
            pred = int(np.argmax(passed.logits[row])) if row is not None else names.index(_label(role, g))
            items.append(_Item(gi, k, path, role, cache[path], row, pred))
            k += 1
    return items


def _plain_cams(
    model: torch.nn.Module,
    layer: torch.nn.Module,
    galleries: Sequence[Gallery],
    names: Sequence[str],
    items: list[_Item],
    passed: PassOutputs,
    device: torch.device,
    batch_size: int,
    *,
    layout: LayerLayout | None = None,
) -> int:
    """Fill CAM(A), CAM(B) and B - A for every item; returns the forwards it ran (the pass's maps cost none)."""
    todo: list[tuple[_Item, int, int]] = []
    for it in items:
        g = galleries[it.gallery]
        a, b = names.index(g.true), names.index(g.pred)
        # The pass kept the maps of the image's predicted and true class: those of an error are B and A.
        from_pass = (
            passed.cam_pre is not None and it.row is not None and it.pred == b and int(passed.labels[it.row]) == a
        )
        if from_pass:
            it.pre = passed.cam_pre[it.row].astype(np.float32) * float(passed.cam_pre_scale[it.row])
        else:
            todo.append((it, a, b))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        x = torch.stack([it.x for it, _, _ in chunk]).to(device)
        collector = CamCollector(layer, layout=layout)
        with collector.attached(model, len(chunk)), torch.enable_grad():
            logits = model(x)
            pre = collector.maps_for(
                logits,
                [
                    torch.tensor([b for _, _, b in chunk], device=logits.device),
                    torch.tensor([a for _, a, _ in chunk], device=logits.device),
                ],
            )
        if pre is None:
            continue
        for (it, _, _), maps in zip(chunk, pre.detach().float().cpu().numpy(), strict=True):
            it.pre = maps
    for it in items:
        if it.pre is None:
            continue
        g = galleries[it.gallery]
        size = (it.x.shape[1], it.x.shape[2])
        true_map, pred_map, contrast = pair_maps_from_pass(it.pre[None], np.ones(1, np.float32), size=size)
        it.maps[f"CAM {g.true}"] = true_map[0]
        it.maps[f"CAM {g.pred}"] = pred_map[0]
        it.maps[f"{g.pred} − {g.true}"] = contrast[0]
    return len(todo)


def _library_cams(
    model: torch.nn.Module,
    layer: torch.nn.Module,
    galleries: Sequence[Gallery],
    names: Sequence[str],
    by_gallery: dict[int, list[_Item]],
    device: torch.device,
    method: str,
    *,
    layout: LayerLayout | None = None,
) -> int:
    """The other ``--cam`` methods through pytorch-grad-cam (and every map of a signed layer, see
    :func:`~confusion_report.explain.gradcam.cam_maps`), one forward and backward per map."""
    forwards = 0
    for gi, its in by_gallery.items():
        g = galleries[gi]
        a, b = names.index(g.true), names.index(g.pred)
        x = torch.stack([it.x for it in its]).to(device)
        m = len(its)
        if method == "eigencam":
            cols = {"EigenCAM": cam_maps(model, layer, x, [class_target(a)] * m, method="eigencam", layout=layout)}
        else:
            kw = {"method": method, "layout": layout}
            cols = {
                f"CAM {g.true}": cam_maps(model, layer, x, [class_target(a)] * m, **kw),
                f"CAM {g.pred}": cam_maps(model, layer, x, [class_target(b)] * m, **kw),
                f"{g.pred} − {g.true}": cam_maps(model, layer, x, [LogitDifference(b, a)] * m, **kw),
            }
        forwards += m * len(cols)
        for title, maps in cols.items():
            for it, h in zip(its, maps, strict=True):
                it.maps[title] = h
    return forwards


def _occlusion_order(by_gallery: dict[int, list[_Item]]) -> list[_Item]:
    """Errors first, round robin over the pairs (each pair's first error, then each pair's second...),
    then the typical images the same way."""
    order: list[_Item] = []
    for errors in (True, False):
        queues = [[it for it in its if (it.role == "error") == errors] for its in by_gallery.values()]
        depth = max((len(q) for q in queues), default=0)
        for d in range(depth):
            order.extend(q[d] for q in queues if d < len(q))
    return order


def _label(role: str, g: Gallery) -> str:
    return g.pred if role == "typical_pred" else g.true


def _view_choice(g: Gallery) -> list[tuple[str, str]]:
    return [
        (imgs[0].path, role)
        for imgs, role in ((g.errors, "error"), (g.typical_true, "typical_true"), (g.typical_pred, "typical_pred"))
        if imgs
    ]


def view_images(g: Gallery) -> int:
    """How many images :func:`activation_views` runs for a gallery (forwards the explain budget reserves)."""
    return len(_view_choice(g))


def activation_views(
    loaded: LoadedModel,
    galleries: Sequence[Gallery],
    pairs: Sequence[Pair],
    preds: Predictions,
    stage_arrays: dict[str, np.ndarray],
    *,
    stages: Sequence[str],
    root: Path,
    transform: Callable,
    device: torch.device,
    layouts: dict[str, LayerLayout] | None = None,
) -> tuple[tuple[PairActivations, ...], dict[str, Picture]]:
    """Per pair: top channels of a middle and a late stage on an error and typical A and B images, and
    the late-stage channels that differ most between A and B (with their top-activating images)."""
    if not loaded.hookable or not stages:
        return (), {}
    layers = list(dict.fromkeys([stages[(len(stages) - 1) // 2], stages[-1]]))
    model = logits_module(loaded.module).to(device).eval()
    by_anchor = {p.anchor: p for p in pairs}
    pictures: dict[str, Picture] = {}
    out = []
    for g in galleries:
        chosen = _view_choice(g)
        tensors, kept = [], []
        for path, role in chosen:
            try:
                img, _ = load_rgb(root / path)
            except (ValueError, OSError):
                continue
            tensors.append(transform(img))
            kept.append((path, role))
        views = []
        if tensors:
            fmaps = feature_maps(model, loaded.module, layers, torch.stack(tensors).to(device), layouts=layouts)
            for name in layers:
                if name not in fmaps:
                    continue
                for k, (path, role) in enumerate(kept):
                    chans = top_channels(fmaps[name][k])
                    keys = []
                    for c in chans:
                        key = f"xa:{g.anchor}:{name}:{k}:{int(c)}"
                        pictures[key] = FeatureMapPicture(fmaps[name][k][c])
                        keys.append(key)
                    views.append(
                        FeatureMapView(
                            layer=name, path=path, role=role, channels=tuple(int(c) for c in chans), maps=tuple(keys)
                        )
                    )
        late = f"stage:{stages[-1]}"
        channels = ()
        if late in stage_arrays and g.anchor in by_anchor:
            channels = channel_contrasts(preds, stage_arrays[late], by_anchor[g.anchor], layer=stages[-1])
        out.append(PairActivations(true=g.true, pred=g.pred, anchor=g.anchor, views=tuple(views), channels=channels))
    return tuple(out), pictures
