"""Stage 3, analyse: every analysis over the pass's arrays, then the findings rules.

Core (metrics, confusion, pairs, clusters, galleries) -> feature space (projection, neighbour overlap,
near-duplicates) -> why (attention, depth of separation, the small explain pass over gallery images)
-> diagnostics (label issues, slices, calibration) and findings, which read all of the above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

from ..analyses.attention import pair_attention_inputs
from ..analyses.class_groups import group_confusion
from ..analyses.clusters import find_clusters
from ..analyses.confusion import compute_confusion
from ..analyses.gallery import build_galleries
from ..analyses.metrics import compute_metrics
from ..analyses.pairs import rank_pairs
from ..analyses.separation import separability_inputs
from ..diagnostics import Diagnostics, run_diagnostics
from ..explain.occlusion_attention import occlusion_attention
from ..explain.run import OUTSIDE_BUDGET
from ..feature_space import FeatureSpaceOutput, run_feature_space
from ..forward_budget import attention_share, intervention_forwards
from ..interventions.outcome import InterventionOutcome
from ..interventions.stage import intervene
from ..results import ClassGroups, Cluster, Confusion, Gallery, Metrics, Pair
from ..why import WhyResults, analyse_why
from .load import Setup
from .run_pass import PassResult

if TYPE_CHECKING:
    from .media import MediaEncoder


@dataclass(frozen=True)
class Analysis:
    """The results of every analysis (``metrics`` already carries the calibration's ECE)."""

    metrics: Metrics
    confusion: Confusion
    pairs: tuple[Pair, ...]
    clusters: tuple[Cluster, ...]
    galleries: tuple[Gallery, ...]
    features: FeatureSpaceOutput
    why: WhyResults
    diagnostics: Diagnostics
    warnings: tuple[str, ...]
    interventions: InterventionOutcome = field(default_factory=InterventionOutcome)  # issue 16
    class_groups: ClassGroups | None = None  # issue 13: errors within vs across --class-groups


def gallery_paths(galleries: tuple[Gallery, ...]) -> list[str]:
    """The galleries' images in page order: each pair's errors, then typical images of both classes."""
    return [img.path for g in galleries for img in (*g.errors, *g.typical_true, *g.typical_pred)]


def analyse(
    setup: Setup, done: PassResult, log: Callable[[str], None], *, encoder: MediaEncoder | None = None
) -> Analysis:
    """Core analyses, feature space, why, diagnostics and findings, in that order (each reads the previous).

    The feature space needs no model, so it runs on a second thread beside the explain pass; ``encoder``
    (stage 4's) gets each group of pictures to encode as soon as it is known."""
    cfg, p, extras = setup.cfg, done.predictions, done.arrays.extras
    metrics = compute_metrics(p)
    confusion = compute_confusion(p)
    pairs = rank_pairs(p, focus=cfg.focus_classes)
    clusters = find_clusters(confusion)
    galleries = build_galleries(p, pairs, top_pairs=cfg.top_pairs)
    if encoder is not None:
        encoder.thumbnails(gallery_paths(galleries))
    warnings: list[str] = []
    if setup.index.empty_classes:
        empty = setup.index.empty_classes
        warnings.append(f"{len(empty)} class folder(s) hold no images: " + ", ".join(empty[:10]))
    if done.skipped:
        warnings.append(f"{len(done.skipped)} file(s) were skipped (listed under Data).")

    # numpy and scikit-learn release the GIL in their heavy parts, and with the model's forwards on
    # the main thread the two overlap on a CPU's cores. BLAS stays on one thread throughout: its thread
    # count is one setting for the whole process, which the probes and the projection lower and restore
    # around their work (threadpoolctl); from two threads at once those changes interleave, and a
    # restored count reached scikit-learn's k-NN inside its OpenMP loop ("OpenBLAS Warning: Detect
    # OpenMP Loop and this application may hang"). Under an outer limit of one every restore is to one.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(1, "feature-space") as side:
        features_job = side.submit(
            run_feature_space,
            p,
            pairs=pairs,
            galleries=galleries,
            root=setup.index.root,
            hashes=extras.get("image_hash"),
            method=cfg.projection,
            log=log,
        )
        why = analyse_why(
            cfg,
            setup.why,
            setup.model,
            p,
            extras,
            pairs,
            galleries,
            root=setup.index.root,
            transform=setup.transform,
            prep=setup.prep,
            device=done.device,
            batchable=setup.probe.batchable,
        )
        if encoder is not None:
            encoder.pictures(why.pictures)
            encoder.thumbnails(why.shown_paths())
        attention_inputs = (
            pair_attention_inputs(p, extras["cams"], pairs, top_pairs=cfg.top_pairs) if "cams" in extras else ()
        )
        # Without in-pass CAMs (no hooks: TorchScript, a static export) the attention evidence comes from
        # region occlusion on a sample, within a quarter of --explain-budget (forward_budget.py); the
        # interventions below get what the overlays and this left.
        # --no-cams turns it off as well.
        spent = sum(c.forwards for c in why.explain.costs if c.method not in OUTSIDE_BUDGET) if why.explain else 0
        if "cams" not in extras and cfg.cams and pairs:
            attention_inputs, note, forwards = occlusion_attention(
                setup.model,
                p,
                pairs,
                root=setup.index.root,
                transform=setup.transform,
                device=done.device,
                top_pairs=cfg.top_pairs,
                batchable=setup.probe.batchable,
                budget=attention_share(cfg.explain_budget),
            )
            spent += forwards
            log(note)
        features = features_job.result()
    warnings.extend(features.warnings)
    if encoder is not None:
        encoder.thumbnails(features.media_paths)
    diagnostics = run_diagnostics(
        p,
        confusion=confusion,
        pairs=pairs,
        clusters=clusters,
        metrics=metrics,
        extras=extras,
        sizes=done.arrays.sizes,
        skipped=done.skipped,
        conversions=done.arrays.conversions,
        graph=features.graph,
        feature_space=features.feature_space,
        duplicates=features.duplicates,
        attention=attention_inputs,
        separability=separability_inputs(why.separation),
    )
    if encoder is not None:
        encoder.thumbnails(diagnostics.shown_paths())
    # Issue 16: test the attention and slice findings by editing their images and re-running the model.
    findings, interventions = intervene(
        diagnostics.findings,
        loaded=setup.model,
        predictions=p,
        stats=diagnostics.image_stats,
        root=setup.index.root,
        transform=setup.transform,
        prep=setup.prep,
        device=done.device,
        batch_size=setup.batch_size,
        budget=intervention_forwards(len(p.labels), cfg.explain_budget, spent=spent),
        log=log,
    )
    diagnostics = dataclasses.replace(diagnostics, findings=findings)
    return Analysis(
        metrics=dataclasses.replace(metrics, ece=diagnostics.calibration.ece),
        confusion=confusion,
        pairs=pairs,
        clusters=clusters,
        galleries=galleries,
        features=features,
        why=why,
        diagnostics=diagnostics,
        warnings=tuple(warnings),
        interventions=interventions,
        class_groups=(
            group_confusion(confusion, setup.class_groups, source=Path(setup.cfg.class_groups).name)
            if setup.class_groups
            else None
        ),
    )
