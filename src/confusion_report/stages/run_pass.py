"""Stage 2, run_pass: the one pass over every image, or its cached arrays; sharded under torchrun.

Returns the per-image arrays as :class:`~confusion_report.analyses.predictions.Predictions` (what every
analysis starts from) plus the collectors' extras, and how the pass ran. Ranks other than 0 get None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import distributed
from ..analyses.predictions import Predictions
from ..analyses.projection import spare_cores, start_umap_warmup
from ..cache import PassCache, pass_key
from ..data import ImageRecord
from ..engine import resolve_device, run_pass
from ..errors import DataError
from ..gpu_decode import DeviceDecoder
from ..pass_arrays import PassArrays
from ..pass_faults import pass_notes
from ..results import SkippedFile
from .load import Setup


@dataclass(frozen=True)
class PassResult:
    """The pass's arrays over the decoded images, and how it ran."""

    predictions: Predictions
    arrays: PassArrays  # ``extras`` (CAMs, stages, image statistics), sizes, conversions, seconds
    records: tuple[ImageRecord, ...]  # the decoded images, aligned with ``predictions``
    skipped: tuple[SkippedFile, ...]  # found but not used: at discovery and at decoding
    device: torch.device
    cache: str | None  # "reused", "resumed" (from checkpoints), "stored", or None without --cache
    world_size: int
    decode: str  # "cpu" or "device"
    notes: tuple[str, ...] = ()  # for the report: a resumed pass, a halved batch, non-finite outputs


def pass_stage(setup: Setup, log: Callable[[str], None]) -> PassResult | None:
    """Run (or reuse) the one pass; None on a torchrun rank other than 0."""
    cfg, index = setup.cfg, setup.index
    device = resolve_device(cfg.device)
    if cfg.projection == "umap" and setup.probe.embedding_dim and setup.embedding_layer and spare_cores(device.type):
        # UMAP's numba JIT compiles in a background thread during the pass, where cores are to spare.
        start_umap_warmup(len(index.records))
    with distributed.session(device) as shard:
        device = shard.device
        if not shard.is_main:
            log = _silent  # one rank speaks and writes
        decoder = DeviceDecoder(setup.prep, device) if device.type == "cuda" and cfg.gpu_decode else None
        cache = PassCache(cfg.cache_dir, log=log) if cfg.cache_dir is not None else None
        key = arrays = None
        if cache is not None and shard.is_main:
            key = _cache_key(setup, device, decoder)
            arrays = cache.load(key)
            log(f"cache: {'reusing' if arrays is not None else 'no entry for'} {cache.path_for(key)}")
        cache_hit = shard.broadcast(arrays is not None)
        if not cache_hit:
            where = f"{shard.world_size} ranks" if shard.world_size > 1 else str(device)
            log(f"pass: {len(index.records)} images on {where} (batch {setup.batch_size}, {cfg.workers} workers)")
            arrays = distributed.run_sharded(
                lambda pos: run_pass(
                    setup.model,
                    [index.records[i].path for i in pos],
                    setup.transform,
                    num_outputs=setup.probe.num_outputs,
                    device=device,
                    labels=setup.labels[pos],
                    batch_size=setup.batch_size,
                    workers=cfg.workers,
                    collectors=setup.collectors,
                    progress=cfg.progress and shard.is_main,
                    decoder=decoder,
                    # Checkpoints under --cache let a killed run resume (one process only).
                    checkpoint=(
                        cache.checkpoint(key, every=cfg.checkpoint_every)
                        if cache is not None and shard.world_size == 1
                        else None
                    ),
                ),
                len(index.records),
                shard,
            )
            if cache is not None and arrays is not None:
                cache.save(key, arrays)  # logs "cache: stored ..." itself; a failed write is a warning
    if arrays is None:
        return None  # a rank other than 0: rank 0 has the arrays and writes the report
    decode_skips = tuple(SkippedFile(index.records[i].rel, reason) for i, reason in arrays.skipped)
    for s in decode_skips:
        log(f"warning: skipped {s.path}: {s.reason}")
    if len(arrays.indices) == 0:
        raise DataError("no image could be decoded; see the skipped files above")
    records = tuple(index.records[i] for i in arrays.indices)
    predictions = Predictions(
        names=setup.names,
        paths=tuple(r.rel for r in records),
        labels=setup.labels[arrays.indices],
        logits=arrays.logits,
        embeddings=arrays.extras.get("embedding"),
    )
    return PassResult(
        predictions=predictions,
        arrays=arrays,
        records=records,
        skipped=tuple(index.skipped) + decode_skips,
        device=device,
        cache=("reused" if cache_hit else ("resumed" if arrays.resumed else "stored") if cache is not None else None),
        world_size=shard.world_size,
        decode="device" if decoder is not None else "cpu",
        notes=tuple(pass_notes(arrays)),
    )


def _cache_key(setup: Setup, device: torch.device, decoder: DeviceDecoder | None) -> str:
    """Everything the arrays depend on: model bytes (or tensors), files, outputs, preprocessing, collectors."""
    cfg = setup.cfg
    source = setup.model_source
    return pass_key(
        model=source if isinstance(source, (str, Path)) else setup.model.module,
        model_options={"arch": cfg.arch, "arch_kwargs": cfg.arch_kwargs},
        files=[(r.path, r.rel, r.label) for r in setup.index.records],
        output_names=setup.names,
        preprocessing=setup.prep,
        embedding_layer=f"{setup.embedding_layer}:{'output' if cfg.embedding_layer else 'input'}",
        collectors=setup.collectors,
        device_type=device.type,
        decode="device" if decoder is not None else "cpu",
    )


def _silent(message: str) -> None:
    del message
