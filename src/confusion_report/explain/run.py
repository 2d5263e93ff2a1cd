"""Run the chosen explainers over the gallery images of each top pair; return results and pictures.

Every picture comes back as numbers (:mod:`.pictures`) under an ``xp:`` or ``xa:`` media key; the
media stage encodes them with the thumbnails, so nothing here writes an image file or a data URI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..analyses.channels import channel_contrasts
from ..analyses.predictions import Predictions
from ..data import load_rgb
from ..layout import LayerLayout
from ..loading import LoadedModel, get_submodule
from ..outputs import logits_module
from ..results import (
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
from .gradcam import LogitDifference, cam_maps, class_target
from .occlusion import default_window, occlusion_maps
from .pictures import FeatureMapPicture, OverlayPicture, Picture
from .surrogate import superpixels, surrogate_map

EXPLAIN_METHODS = ("gradcam", "occlusion", "lime", "shap")
DEFAULT_EXPLAIN = ("gradcam", "occlusion")


@dataclass(frozen=True)
class ExplainOptions:
    """Which explainers run on the gallery images, and their knobs."""

    methods: tuple[str, ...] = DEFAULT_EXPLAIN
    cam_method: str = "gradcam"
    occlusion_window: int | None = None
    occlusion_stride: int | None = None
    n_samples: int = 200
    batch_size: int = 32


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
    target_layout: LayerLayout | None = None,
) -> tuple[ExplainInfo, dict[str, Picture]]:
    """Overlays for every gallery image of every pair: CAM(A), CAM(B), B - A, occlusion, LIME, SHAP."""
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
    layer = get_submodule(loaded.module, target_layer) if "gradcam" in methods and target_layer else None
    pictures: dict[str, Picture] = {}
    cache: dict[str, torch.Tensor] = {}
    window = stride = None
    out_pairs = []
    for g in galleries:
        items = _gallery_images(g)
        tensors = []
        for path, _ in items:
            if path not in cache:
                try:
                    img, _ = load_rgb(root / path)
                    cache[path] = transform(img)
                except (ValueError, OSError):
                    continue
            tensors.append(cache[path])
        items = [it for it in items if it[0] in cache]
        if not items:
            continue
        x = torch.stack([cache[p] for p, _ in items]).to(device)
        a, b = names.index(g.true), names.index(g.pred)
        with torch.no_grad():
            preds = model(x).argmax(dim=1)
        columns: dict[str, np.ndarray] = {}
        signed: set[str] = set()
        if "gradcam" in methods and layer is not None:
            m = len(items)
            kw = {"method": options.cam_method, "layout": target_layout}
            if options.cam_method == "eigencam":
                columns["EigenCAM"] = cam_maps(model, layer, x, [class_target(a)] * m, **kw)
            else:
                columns[f"CAM {g.true}"] = cam_maps(model, layer, x, [class_target(a)] * m, **kw)
                columns[f"CAM {g.pred}"] = cam_maps(model, layer, x, [class_target(b)] * m, **kw)
                columns[f"{g.pred} − {g.true}"] = cam_maps(model, layer, x, [LogitDifference(b, a)] * m, **kw)
        if "occlusion" in methods:
            side = min(x.shape[2], x.shape[3])
            dw, ds = default_window(side, overlap=device.type == "cuda")
            window = options.occlusion_window or dw
            stride = options.occlusion_stride or ds
            columns["occlusion"] = occlusion_maps(model, x, preds, window=window, stride=stride)
            signed.add("occlusion")
        for method in ("lime", "shap"):
            if method in methods:
                maps = []
                for k in range(len(items)):
                    seg = superpixels(_display(x[k], prep))
                    maps.append(
                        surrogate_map(model, x[k], int(preds[k]), seg, method=method, n_samples=options.n_samples)
                    )
                title = "LIME" if method == "lime" else "SHAP"
                columns[title] = np.stack(maps)
                signed.add(title)
        images = []
        for k, (path, role) in enumerate(items):
            rgb = _display(x[k], prep)
            overlays = {}
            for c, (title, maps) in enumerate(columns.items()):
                key = f"xp:{g.anchor}:{k}:{c}"
                pictures[key] = OverlayPicture(rgb, maps[k], signed=title in signed)
                overlays[title] = key
            images.append(
                ExplainImage(path=path, role=role, true=_label(role, g), pred=names[int(preds[k])], overlays=overlays)
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
    )
    return info, pictures


def _label(role: str, g: Gallery) -> str:
    return g.pred if role == "typical_pred" else g.true


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
        chosen = [
            (imgs[0].path, role)
            for imgs, role in ((g.errors, "error"), (g.typical_true, "typical_true"), (g.typical_pred, "typical_pred"))
            if imgs
        ]
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
