"""Wiring of the "why" parts into a build: collectors for the pass, then analyses and the explain pass.

``plan_why`` runs before the pass (find the target layer and the stages, make the collectors);
``analyse_why`` runs after the core analyses and returns the optional ``ReportData`` fields and media.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .analyses.attention import compute_attention
from .analyses.predictions import Predictions
from .analyses.separation import compute_separation
from .cams import CamCollector, StageCollector, find_stages, find_target_layer, trace_shapes
from .config import BuildConfig
from .engine import Collector
from .errors import ReportError
from .explain.run import ExplainOptions, activation_views, explain_galleries
from .loading import LoadedModel, get_submodule
from .render.thumbnails import make_thumbnails
from .results import Gallery, Pair, PreprocessInfo


@dataclass
class WhyPlan:
    """Where the CAMs and stage activations are taken, and the collectors that take them."""

    target_layer: str | None = None
    stages: tuple[str, ...] = ()
    collectors: list[Collector] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_why(loaded: LoadedModel, sample: torch.Tensor, cfg: BuildConfig) -> WhyPlan:
    """Find the target layer (``cfg.target_layer`` overrides) and stages with one probing forward."""
    plan = WhyPlan()
    if not loaded.hookable:
        plan.notes.append(
            f"{loaded.format} modules take no hooks: Grad-CAM, attention statistics, depth of separation and "
            "activation views are unavailable; the gallery overlays fall back to occlusion."
        )
        return plan
    try:
        shapes = trace_shapes(loaded.module, sample)
    except Exception as exc:  # a model that refuses hooks everywhere still gets the rest of the report
        plan.notes.append(f"could not trace layer shapes ({exc}); no CAMs or stage activations")
        return plan
    target = cfg.target_layer or find_target_layer(shapes, loaded.module)
    if cfg.target_layer is not None:
        get_submodule(loaded.module, cfg.target_layer)  # a clear error for a wrong name
        if cfg.target_layer not in shapes.shapes:
            raise ReportError(f"--target-layer {cfg.target_layer}: its output is not a 4-D (N, C, H, W) tensor")
    if target is None:
        plan.notes.append("no layer with a spatial (N, C, H, W) output was found: no CAMs or stage activations")
        return plan
    plan.target_layer = target
    plan.stages = find_stages(loaded.module, shapes, target)
    stages = StageCollector({s: get_submodule(loaded.module, s) for s in plan.stages})
    stages.cache_key = ",".join(plan.stages)  # --cache: cached arrays are only reused for the same layers
    plan.collectors.append(stages)
    if cfg.cams:
        cams = CamCollector(get_submodule(loaded.module, target))
        cams.cache_key = target
        plan.collectors.append(cams)
    return plan


def analyse_why(
    cfg: BuildConfig,
    plan: WhyPlan,
    loaded: LoadedModel,
    preds: Predictions,
    extras: dict[str, np.ndarray],
    pairs: tuple[Pair, ...],
    galleries: tuple[Gallery, ...],
    *,
    root: Path,
    transform: Any,
    prep: PreprocessInfo,
    device: torch.device,
    batchable: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The optional ReportData fields (attention, separation, explain, activations) and their media."""
    fields: dict[str, Any] = {}
    media: dict[str, str] = {}
    if "cams" in extras and plan.target_layer:
        fields["attention"] = compute_attention(
            preds, extras["cams"], pairs, layer=plan.target_layer, top_pairs=cfg.top_pairs
        )
    stage_arrays = {s: extras[f"stage:{s}"] for s in plan.stages if f"stage:{s}" in extras}
    if preds.embeddings is not None and not _same_as_last_stage(preds.embeddings, stage_arrays):
        stage_arrays["embedding"] = preds.embeddings
    if stage_arrays and pairs:
        fields["separation"] = compute_separation(preds, stage_arrays, pairs, top_pairs=cfg.top_pairs)
    if cfg.explain and galleries:
        options = ExplainOptions(
            methods=tuple(cfg.explain),
            cam_method=cfg.cam_method,
            occlusion_window=cfg.occlusion_window,
            occlusion_stride=cfg.occlusion_stride,
            n_samples=cfg.explain_samples,
        )
        info, m = explain_galleries(
            loaded,
            galleries,
            names=preds.names,
            root=root,
            transform=transform,
            prep=prep,
            device=device,
            target_layer=plan.target_layer,
            options=options,
        )
        fields["explain"] = info
        media.update(m)
    if plan.stages and galleries and batchable:  # the views run the gallery images in one batch
        stage_extras = {k: v for k, v in extras.items() if k.startswith("stage:")}
        views, m = activation_views(
            loaded,
            galleries,
            pairs,
            preds,
            stage_extras,
            stages=plan.stages,
            root=root,
            transform=transform,
            device=device,
        )
        fields["activations"] = views
        media.update(m)
        tops = [path for v in views for c in v.channels for path in c.top_images]
        thumbs, _ = make_thumbnails(root, tops)
        media.update(thumbs)
    return fields, media


def _same_as_last_stage(embedding: np.ndarray, stages: dict[str, np.ndarray]) -> bool:
    """True when the embedding is just the last stage globally pooled (a ResNet): no extra point on the chart."""
    if not stages:
        return False
    last = list(stages.values())[-1]
    if last.shape != embedding.shape:
        return False
    rows = slice(0, min(len(last), 256))
    # Stages are stored as float16, so compare at that precision.
    return bool(np.allclose(last[rows].astype(np.float32), embedding[rows], rtol=1e-2, atol=1e-3))
