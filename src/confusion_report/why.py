"""The "why" parts of a build: collectors for the pass, then analyses and the small explain pass.

``plan_why`` runs in the load stage (find the target layer and the stages, make the collectors);
``analyse_why`` runs in the analyse stage and returns :class:`WhyResults`: the attention statistics,
depth of separation, overlays and activation views, plus their pictures as numbers for the media stage.
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
from .collectors.base import Collector
from .collectors.cams import CamCollector
from .collectors.stages import StageCollector
from .config import BuildConfig
from .errors import ReportError
from .explain.pictures import Picture
from .explain.run import ExplainOptions, PassOutputs, activation_views, explain_galleries, view_images
from .layers import CamBackward, choose_target, find_stages, plan_cam_backward, trace_shapes
from .layout import LayerLayout
from .loading import LoadedModel, get_submodule
from .results import AttentionResult, ExplainInfo, Gallery, Pair, PairActivations, PreprocessInfo, Separation


@dataclass
class WhyPlan:
    """Where the CAMs and stage activations are taken, and the collectors that take them."""

    target_layer: str | None = None
    stages: tuple[str, ...] = ()
    collectors: list[Collector] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # How each of those layers' outputs reads as (N, C, H, W) maps (tokens, channels-last or already so).
    layouts: dict[str, LayerLayout] = field(default_factory=dict)

    @property
    def target_layout(self) -> LayerLayout | None:
        """The target layer's layout (None without a target)."""
        return self.layouts.get(self.target_layer) if self.target_layer else None


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
    if cfg.target_layer is not None:
        target = anchor = cfg.target_layer
        get_submodule(loaded.module, target)  # a clear error for a wrong name
        if target not in shapes.layouts:
            raise ReportError(
                f"--target-layer {target}: its output does not read as maps: (N, C, H, W), channels-last "
                "(N, H, W, C) or tokens (N, L, C) over a patch grid"
            )
    else:
        choice = choose_target(loaded.module, sample, shapes)
        if choice is None:
            plan.notes.append(
                "no layer with a spatial output ((N, C, H, W), (N, H, W, C) or patch tokens) was found: "
                "no CAMs or stage activations"
            )
            return plan
        target = choice.name
        anchor = choice.stage_anchor or target
        plan.notes.extend(choice.notes)
    plan.target_layer = target
    plan.stages = find_stages(loaded.module, shapes, anchor)
    plan.layouts = {n: shapes.layouts[n] for n in (*plan.stages, target)}
    stages = StageCollector(
        {s: get_submodule(loaded.module, s) for s in plan.stages},
        layouts={s: plan.layouts[s] for s in plan.stages},
    )
    stages.cache_key = ",".join(plan.stages)  # --cache: cached arrays are only reused for the same layers
    plan.collectors.append(stages)
    if cfg.cams:
        try:
            backward = plan_cam_backward(loaded.module, sample, shapes, target, hooked=plan.stages)
        except Exception:  # only a cost: without the shortcuts the backward runs through everything after the layer
            backward = CamBackward()
        cams = CamCollector(
            get_submodule(loaded.module, target),
            layout=plan.layouts[target],
            grad_modules=[get_submodule(loaded.module, n) for n in backward.params_after],
            token_rows={get_submodule(loaded.module, n): rows for n, rows in backward.rows.items()},
        )
        # The map kind is part of the key: which layers get the deviation map has changed between versions.
        cams.cache_key = f"{target}:{'deviation' if plan.layouts[target].signed else 'gradcam'}"
        plan.collectors.append(cams)
    return plan


@dataclass(frozen=True)
class WhyResults:
    """What the why parts add to a report; ``pictures`` are the overlays and feature maps as numbers."""

    attention: AttentionResult | None = None
    separation: Separation | None = None
    explain: ExplainInfo | None = None
    activations: tuple[PairActivations, ...] = ()
    pictures: dict[str, Picture] = field(default_factory=dict)

    def shown_paths(self) -> list[str]:
        """Dataset images the why sections show beside the pictures (top-activating images of channels)."""
        return [path for v in self.activations for c in v.channels for path in c.top_images]


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
) -> WhyResults:
    """Attention statistics, depth of separation, gallery overlays and activation views."""
    attention = separation = explain = None
    activations: tuple[PairActivations, ...] = ()
    pictures: dict[str, Picture] = {}
    if "cams" in extras and plan.target_layer:
        attention = compute_attention(preds, extras["cams"], pairs, layer=plan.target_layer, top_pairs=cfg.top_pairs)
    stage_arrays = {s: extras[f"stage:{s}"] for s in plan.stages if f"stage:{s}" in extras}
    if preds.embeddings is not None and not _same_as_last_stage(preds.embeddings, stage_arrays):
        stage_arrays["embedding"] = preds.embeddings
    if stage_arrays and pairs:
        separation = compute_separation(preds, stage_arrays, pairs, top_pairs=cfg.top_pairs)
    views = plan.stages and galleries and batchable  # the views run the gallery images in one batch
    if cfg.explain and galleries:
        options = ExplainOptions(
            methods=tuple(cfg.explain),
            cam_method=cfg.cam_method,
            occlusion_window=cfg.occlusion_window,
            occlusion_stride=cfg.occlusion_stride,
            n_samples=cfg.explain_samples,
            budget=cfg.explain_budget,
        )
        passed = PassOutputs(
            rows={path: i for i, path in enumerate(preds.paths)},
            logits=preds.logits,
            labels=preds.labels,
            cam_pre=extras.get("cam_pre"),
            cam_pre_scale=extras.get("cam_pre_scale"),
        )
        explain, m = explain_galleries(
            loaded,
            galleries,
            names=preds.names,
            root=root,
            transform=transform,
            prep=prep,
            device=device,
            target_layer=plan.target_layer,
            options=options,
            passed=passed,
            reserved=sum(view_images(g) for g in galleries) if views else 0,
            target_layout=plan.target_layout,
        )
        pictures.update(m)
    if views:
        stage_extras = {k: v for k, v in extras.items() if k.startswith("stage:")}
        activations, m = activation_views(
            loaded,
            galleries,
            pairs,
            preds,
            stage_extras,
            stages=plan.stages,
            root=root,
            transform=transform,
            device=device,
            layouts=plan.layouts,
        )
        pictures.update(m)
    return WhyResults(attention, separation, explain, activations, pictures)


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
