"""The Python API: ``confusion_report.build(model, data, ...)`` mirrors ``confusion-report build``.

This module only wires the stages together (data -> model -> one pass -> analyses -> render); each
stage lives in its own module.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import __version__, distributed
from .analyses.attention import pair_attention_inputs
from .analyses.class_groups import group_confusion, read_class_groups
from .analyses.clusters import find_clusters
from .analyses.confusion import compute_confusion
from .analyses.gallery import build_galleries
from .analyses.metrics import compute_metrics
from .analyses.pairs import rank_pairs
from .analyses.predictions import Predictions
from .analyses.projection import METHODS as PROJECTIONS
from .analyses.projection import start_umap_warmup
from .analyses.separation import separability_inputs
from .cache import PassCache, pass_key
from .collectors.image_stats import ImageStatsCollector
from .config import BuildConfig
from .data import DatasetIndex, ImageRecord, discover, load_rgb, read_class_names
from .diagnostics import run_diagnostics
from .engine import EmbeddingCollector, autocast_for, probe_model, resolve_device, run_pass
from .errors import DataError, ReportError
from .feature_space import run_feature_space
from .gpu_decode import DeviceDecoder
from .loading import LoadedModel, find_final_linear, get_submodule, load_model, wrap_module
from .predictions_csv import predictions_csv
from .preprocess import build_transform, resolve_preprocessing
from .render.html import write_atomic, write_report
from .render.thumbnails import make_thumbnails
from .results import DatasetInfo, ModelInfo, ReportData, RunInfo, SkippedFile
from .why import analyse_why, plan_why


def _log(cfg: BuildConfig, message: str) -> None:
    if cfg.progress:
        print(message, file=sys.stderr)


def _index_from_dataset(dataset: Any) -> DatasetIndex:
    """Accept torchvision-style datasets that know their files (``samples`` and ``classes``)."""
    samples = getattr(dataset, "samples", None) or getattr(dataset, "imgs", None)
    classes = getattr(dataset, "classes", None)
    if samples is None or classes is None:
        raise DataError(
            "a dataset object must expose .samples [(path, class_index)] and .classes (as torchvision's "
            "ImageFolder does); otherwise pass a folder or a CSV manifest"
        )
    root = Path(getattr(dataset, "root", "."))
    records = []
    for path, target in samples:
        path = Path(path)
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.as_posix()
        records.append(ImageRecord(path, rel, classes[target]))
    return DatasetIndex(
        root=root, source="dataset", classes=tuple(classes), records=tuple(records), skipped=(), empty_classes=()
    )


def _output_names(index: DatasetIndex, num_outputs: int, class_names: Path | None) -> tuple[str, ...]:
    """Names of the model's outputs, checked against the data's labels."""
    if class_names is not None:
        names = read_class_names(class_names)
        if len(names) != num_outputs:
            raise ReportError(f"--class-names lists {len(names)} names but the model has {num_outputs} outputs")
        unknown = sorted({r.label for r in index.records} - set(names))
        if unknown:
            raise DataError(f"labels not in --class-names: {', '.join(unknown[:10])}")
        return names
    if num_outputs != len(index.classes):
        shown = ", ".join(index.classes[:6]) + (", ..." if len(index.classes) > 6 else "")
        raise ReportError(
            f"the model has {num_outputs} outputs but the data has {len(index.classes)} classes ({shown}); "
            "pass --class-names FILE with the model's output names in order"
        )
    return index.classes


def build(
    model: nn.Module | str | Path,
    data: str | Path | Any,
    *,
    config: BuildConfig | None = None,
    **options: Any,
) -> ReportData | None:
    """Run the whole build and write what ``config`` asks for (report, JSON, predictions CSV).

    ``model`` is a live ``nn.Module`` or a model file; ``data`` an ImageFolder-layout folder, a CSV
    manifest, or a torchvision-style dataset with ``samples`` and ``classes``. Options are those of
    :class:`~confusion_report.config.BuildConfig`, by keyword. Returns the :class:`ReportData`; under
    ``torchrun`` only rank 0 does, the other ranks run their shard of the pass and return None.
    """
    cfg = dataclasses.replace(config or BuildConfig(), **options)
    started = time.perf_counter()
    if cfg.top_pairs < 0:
        raise ReportError("--top-pairs must be 0 or more")
    if cfg.projection not in PROJECTIONS:
        raise ReportError(f"--projection must be one of {', '.join(PROJECTIONS)}")

    # 1. data
    index = discover(Path(data), only_classes=None) if isinstance(data, (str, Path)) else _index_from_dataset(data)
    for s in index.skipped:
        _log(cfg, f"warning: skipped {s.path}: {s.reason}")
    unknown_focus = [c for c in cfg.focus_classes if c not in index.classes]
    if unknown_focus:
        raise DataError(f"--classes names classes not in the data: {', '.join(unknown_focus)}")
    # Issue 13: read --class-groups before the pass, so a bad file fails in seconds.
    group_map = read_class_groups(cfg.class_groups, index.classes) if cfg.class_groups else None

    # 2. model and preprocessing
    if isinstance(model, nn.Module):
        loaded = wrap_module(model)
    else:
        loaded = load_model(model, arch=cfg.arch, arch_kwargs=cfg.arch_kwargs, trust_pickle=cfg.trust_pickle)
    prep = resolve_preprocessing(preset=cfg.preset, resize=cfg.resize, crop=cfg.crop, mean=cfg.mean, std=cfg.std)
    _log(cfg, "preprocessing: " + " -> ".join(prep.steps))
    transform = build_transform(prep)
    embedding_layer = cfg.embedding_layer or (find_final_linear(loaded.module) if loaded.hookable else None)
    sample = _first_sample(index, transform)
    probe = probe_model(
        loaded, sample, embedding_layer=embedding_layer, embedding_is_output=cfg.embedding_layer is not None
    )
    names = _output_names(index, probe.num_outputs, cfg.class_names)
    warnings = list(loaded.notes)
    batch_size = cfg.batch_size
    if not probe.batchable:
        batch_size = 1
        warnings.append(
            "The model accepts only one image per call (exported with a static batch size?); "
            "the pass ran with batch size 1 and the gallery overlays, which run in batches, were left out."
        )
        # Overlays (pytorch-grad-cam, captum) batch their perturbations; they need a batchable model.
        cfg = dataclasses.replace(cfg, explain=())

    # 3. the one pass
    if cfg.projection == "umap" and probe.embedding_dim and embedding_layer:
        # Feature space (issue 5): UMAP's numba JIT compiles in a background thread during the pass.
        start_umap_warmup(len(index.records))
    device = resolve_device(cfg.device)
    collectors = []
    if probe.embedding_dim and embedding_layer:
        collectors.append(
            EmbeddingCollector(get_submodule(loaded.module, embedding_layer), output=cfg.embedding_layer is not None)
        )
    collectors.append(ImageStatsCollector(mean=prep.mean, std=prep.std))
    why_plan = plan_why(loaded, sample, cfg)  # Grad-CAM and stage activations ride along in the pass
    collectors.extend(why_plan.collectors)
    warnings.extend(why_plan.notes)
    name_to_idx = {n: k for k, n in enumerate(names)}
    all_labels = np.array([name_to_idx[r.label] for r in index.records], dtype=np.int64)

    # --- scale: reuse cached arrays (--cache), shard across torchrun ranks, decode JPEGs on the GPU ---
    with distributed.session(device) as shard:
        device = shard.device
        if not shard.is_main:
            cfg = dataclasses.replace(cfg, progress=False)  # one rank speaks and writes
        decoder = DeviceDecoder(prep, device) if device.type == "cuda" and cfg.gpu_decode else None
        cache = PassCache(cfg.cache_dir) if cfg.cache_dir is not None else None
        cache_key = arrays = None
        if cache is not None and shard.is_main:
            cache_key = pass_key(
                model=model if isinstance(model, (str, Path)) else loaded.module,
                model_options={"arch": cfg.arch, "arch_kwargs": cfg.arch_kwargs},
                files=[(r.path, r.rel, r.label) for r in index.records],
                output_names=names,
                preprocessing=prep,
                embedding_layer=f"{embedding_layer}:{'output' if cfg.embedding_layer else 'input'}",
                collectors=collectors,
                device_type=device.type,
                decode="device" if decoder is not None else "cpu",
            )
            arrays = cache.load(cache_key)
            _log(cfg, f"cache: {'reusing' if arrays is not None else 'no entry for'} {cache.path_for(cache_key)}")
        cache_hit = shard.broadcast(arrays is not None)
        if not cache_hit:
            where = f"{shard.world_size} ranks" if shard.world_size > 1 else str(device)
            _log(cfg, f"pass: {len(index.records)} images on {where} (batch {batch_size}, {cfg.workers} workers)")
            arrays = distributed.run_sharded(
                lambda pos: run_pass(
                    loaded,
                    [index.records[i].path for i in pos],
                    transform,
                    num_outputs=probe.num_outputs,
                    device=device,
                    labels=all_labels[pos],
                    batch_size=batch_size,
                    workers=cfg.workers,
                    collectors=collectors,
                    progress=cfg.progress,
                    decoder=decoder,
                ),
                len(index.records),
                shard,
            )
            if cache is not None and arrays is not None:
                _log(cfg, f"cache: stored {cache.save(cache_key, arrays)}")
    if arrays is None:
        return None  # a rank other than 0: rank 0 has the arrays and writes the report
    # --- end scale ---
    decode_skips = [SkippedFile(index.records[i].rel, reason) for i, reason in arrays.skipped]
    for s in decode_skips:
        _log(cfg, f"warning: skipped {s.path}: {s.reason}")
    if len(arrays.indices) == 0:
        raise DataError("no image could be decoded; see the skipped files above")
    skipped = tuple(index.skipped) + tuple(decode_skips)
    records = [index.records[i] for i in arrays.indices]
    preds_in = Predictions(
        names=names,
        paths=tuple(r.rel for r in records),
        labels=all_labels[arrays.indices],
        logits=arrays.logits,
        embeddings=arrays.extras.get("embedding"),
    )

    # 4. analyses
    metrics = compute_metrics(preds_in)
    confusion = compute_confusion(preds_in)
    pairs = rank_pairs(preds_in, focus=cfg.focus_classes)
    clusters = find_clusters(confusion)
    galleries = build_galleries(preds_in, pairs, top_pairs=cfg.top_pairs)
    if index.empty_classes:
        warnings.append(
            f"{len(index.empty_classes)} class folder(s) hold no images: " + ", ".join(index.empty_classes[:10])
        )
    if skipped:
        warnings.append(f"{len(skipped)} file(s) were skipped (listed under Data).")

    # 4b. feature space: 2-D projection for the chart, neighbour overlap, near-duplicates
    features = run_feature_space(
        preds_in,
        pairs=pairs,
        galleries=galleries,
        root=index.root,
        method=cfg.projection,
        log=lambda message: _log(cfg, message),
    )
    warnings.extend(features.warnings)

    # 4c. why the model decides: attention, depth of separation, overlays and activation views
    why_fields, why_media = analyse_why(
        cfg,
        why_plan,
        loaded,
        preds_in,
        arrays.extras,
        pairs,
        galleries,
        root=index.root,
        transform=transform,
        prep=prep,
        device=device,
        batchable=probe.batchable,
    )

    # 4d. diagnostics (label issues, slices, calibration) and the automatic findings; they reuse the
    # feature space's k-NN graph and near-duplicate groups and the in-pass CAMs and stage probes.
    diag = run_diagnostics(
        preds_in,
        confusion=confusion,
        pairs=pairs,
        clusters=clusters,
        metrics=metrics,
        extras=arrays.extras,
        sizes=arrays.sizes,
        skipped=skipped,
        conversions=arrays.conversions,
        graph=features.graph,
        duplicates=features.duplicates,
        attention=(
            pair_attention_inputs(preds_in, arrays.extras["cams"], pairs, top_pairs=cfg.top_pairs)
            if "cams" in arrays.extras
            else ()
        ),
        separability=separability_inputs(why_fields.get("separation")),
    )
    metrics = dataclasses.replace(metrics, ece=diag.calibration.ece)

    # 5. media for the images the report shows: galleries, findings, then the feature space's
    # tooltips, neighbours and near-duplicates.
    shown = [img.path for g in galleries for img in (*g.errors, *g.typical_true, *g.typical_pred)]
    shown += diag.shown_paths()
    shown += features.media_paths
    media, failed = make_thumbnails(index.root, shown)
    if failed:
        warnings.append(f"{len(failed)} image(s) could not be read for thumbnails.")
    media.update(why_media)

    support = np.bincount(preds_in.labels, minlength=len(names))
    counts = {n: int(support[k]) for k, n in enumerate(names)}
    result = ReportData(
        tool_version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        command=cfg.command,
        title=cfg.title or f"Confusion report: {Path(loaded.path).name} on {index.root.name or index.root}",
        model=ModelInfo(
            path=loaded.path,
            format=loaded.format,
            num_outputs=probe.num_outputs,
            input_size=probe.input_shape,
            target_layer=why_plan.target_layer,
            embedding_layer=(
                f"{embedding_layer} ({'output' if cfg.embedding_layer else 'input'})" if probe.embedding_dim else None
            ),
            embedding_dim=probe.embedding_dim,
            hookable=loaded.hookable,
            parameters=_count_parameters(loaded.module),
        ),
        dataset=DatasetInfo(
            root=str(index.root),
            source=index.source,
            n_images=len(records),
            n_found=index.n_found,
            classes=index.classes,
            class_counts=tuple(counts.get(c, 0) for c in index.classes),
            skipped=skipped,
            empty_classes=index.empty_classes,
            conversions=arrays.conversions,
        ),
        preprocessing=prep,
        run=RunInfo(
            device=str(device),
            amp=autocast_for(device)[1],
            batch_size=batch_size,
            workers=cfg.workers,
            seconds_pass=arrays.seconds,
            seconds_total=time.perf_counter() - started,
            images_per_second=len(records) / max(arrays.seconds, 1e-9),
            torch_version=torch.__version__,
            pass_cache="reused" if cache_hit else ("stored" if cache is not None else None),
            world_size=shard.world_size,
            decode="device" if decoder is not None else "cpu",
        ),
        metrics=metrics,
        confusion=confusion,
        pairs=pairs,
        clusters=clusters,
        galleries=galleries,
        focus_classes=tuple(cfg.focus_classes),
        warnings=tuple(warnings),
        media=media,
        findings=diag.findings,
        label_issues=diag.label_issues,
        slices=diag.slices,
        calibration=diag.calibration,
        feature_space=features.feature_space,
        duplicates=features.duplicates,
        projection=features.projection,
        **why_fields,
        # Issue 13: confusion within vs across the --class-groups groups.
        class_groups=group_confusion(confusion, group_map, source=Path(cfg.class_groups).name) if group_map else None,
    )
    _write_outputs(cfg, result, preds_in, skipped)
    return result


def _write_outputs(cfg: BuildConfig, result: ReportData, preds: Predictions, skipped: tuple[SkippedFile, ...]) -> None:
    if cfg.out is not None:
        size = write_report(result, cfg.out)
        n_media = sum(len(v) for v in result.media.values())
        _log(cfg, f"report: {cfg.out} ({size / 1e6:.2f} MB, of which thumbnails {n_media / 1e6:.2f} MB)")
    if cfg.json_path is not None:
        write_atomic(cfg.json_path, result.to_json())
        _log(cfg, f"results: {cfg.json_path}")
    if cfg.predictions_path is not None:
        write_atomic(cfg.predictions_path, predictions_csv(preds, skipped))
        _log(cfg, f"predictions: {cfg.predictions_path}")


def _first_sample(index: DatasetIndex, transform) -> torch.Tensor:
    """The first decodable image, transformed: it probes the model before the pass starts."""
    for record in index.records[:64]:
        try:
            img, _ = load_rgb(record.path)
        except ValueError:
            continue
        return transform(img)
    raise DataError("none of the first 64 images can be decoded")


def _count_parameters(module: nn.Module) -> int | None:
    try:
        return int(sum(p.numel() for p in module.parameters()))
    except Exception:
        return None


__all__ = ["BuildConfig", "LoadedModel", "build"]
