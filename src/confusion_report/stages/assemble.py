"""Stage 5, assemble: everything measured, frozen into one :class:`~confusion_report.results.ReportData`."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..analyses.predictions import image_predictions
from ..engine import autocast_for
from ..pass_faults import count_non_finite
from ..results import DatasetInfo, ModelInfo, ReportData, RunInfo
from .analyse import Analysis
from .load import Setup
from .media import Media
from .run_pass import PassResult


def assemble(setup: Setup, done: PassResult, analysis: Analysis, media: Media, *, seconds_total: float) -> ReportData:
    """The frozen results of the build (what the page shows and the JSON holds)."""
    cfg, index, probe, arrays = setup.cfg, setup.index, setup.probe, done.arrays
    n_images = len(done.records)
    support = np.bincount(done.predictions.labels, minlength=len(setup.names))
    counts = {n: int(support[k]) for k, n in enumerate(setup.names)}
    features, why, diagnostics = analysis.features, analysis.why, analysis.diagnostics
    return ReportData(
        tool_version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        command=cfg.command,
        title=cfg.title or f"Confusion report: {Path(setup.model.path).name} on {index.root.name or index.root}",
        model=ModelInfo(
            path=setup.model.path,
            format=setup.model.format,
            num_outputs=probe.num_outputs,
            input_size=probe.input_shape,
            target_layer=setup.why.target_layer,
            target_layout=setup.why.target_layout.describe() if setup.why.target_layout else None,
            embedding_layer=(
                f"{setup.embedding_layer} ({'output' if cfg.embedding_layer else 'input'})"
                if probe.embedding_dim
                else None
            ),
            embedding_dim=probe.embedding_dim,
            hookable=setup.model.hookable,
            parameters=count_parameters(setup.model.module),
        ),
        dataset=DatasetInfo(
            root=str(index.root),
            source=index.source,
            n_images=n_images,
            n_found=index.n_found,
            classes=index.classes,
            class_counts=tuple(counts.get(c, 0) for c in index.classes),
            skipped=done.skipped,
            empty_classes=index.empty_classes,
            conversions=arrays.conversions,
            non_finite=count_non_finite(done.skipped),
        ),
        preprocessing=setup.prep,
        run=RunInfo(
            device=str(done.device),
            amp=autocast_for(done.device)[1],
            batch_size=setup.batch_size,
            workers=cfg.workers,
            seconds_pass=arrays.seconds,
            seconds_total=seconds_total,
            # A resumed pass's time covers only the images this run sent through the model.
            images_per_second=max(n_images - arrays.resumed, 0) / max(arrays.seconds, 1e-9),
            torch_version=torch.__version__,
            pass_cache=done.cache,
            world_size=done.world_size,
            decode=done.decode,
        ),
        metrics=analysis.metrics,
        confusion=analysis.confusion,
        pairs=analysis.pairs,
        clusters=analysis.clusters,
        galleries=analysis.galleries,
        focus_classes=tuple(cfg.focus_classes),
        warnings=setup.warnings + done.notes + analysis.warnings + media.warnings,
        media=media.uris,
        findings=diagnostics.findings,
        label_issues=diagnostics.label_issues,
        slices=diagnostics.slices,
        calibration=diagnostics.calibration,
        feature_space=features.feature_space,
        duplicates=features.duplicates,
        projection=features.projection,
        attention=why.attention,
        separation=why.separation,
        explain=why.explain,
        activations=why.activations,
        images=image_predictions(done.predictions),
        class_groups=analysis.class_groups,  # issue 13
    )


def count_parameters(module: torch.nn.Module) -> int | None:
    """Number of parameters, or None where a module cannot list them."""
    try:
        return int(sum(p.numel() for p in module.parameters()))
    except Exception:
        return None
