"""THE one pass: stream every image through the model once and keep only per-image arrays.

Memory grows with the number of images (logits, embedding), never with their size: decoded images
live only inside a batch. Failed decodes are not fatal; they come back as skip records.
Later analyses (CAMs, stage activations, image statistics) hook into :func:`run_pass` through
``collectors`` so that everything is still computed in this single pass.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .batch import Batch, Collate, ImageDataset
from .checkpoint import PassCheckpoint, covered_positions, merge_parts
from .collectors.base import Collector, take_rows
from .collectors.embedding import EmbeddingCollector
from .errors import ReportError
from .gpu_decode import DeviceDecoder, device_batches
from .loading import LoadedModel, get_submodule
from .outputs import logits_of
from .pass_arrays import PassArrays
from .pass_faults import (
    HalvingRunner,
    ModelRaised,
    check_mostly_finite,
    count_non_finite,
    is_out_of_memory,
    non_finite_reasons,
)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA on a machine without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ReportError("--device cuda asked for, but no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ReportError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def autocast_for(device: torch.device) -> tuple[contextlib.AbstractContextManager, str | None]:
    """bf16 autocast on CUDA (fp16 where bf16 is unsupported); nothing on the CPU, where it is slower."""
    if device.type != "cuda":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class Probe:
    """What one forward of a real image tells about the model."""

    num_outputs: int
    input_shape: tuple[int, ...]
    embedding_dim: int | None
    batchable: bool


def probe_model(
    model: LoadedModel, sample: torch.Tensor, *, embedding_layer: str | None, embedding_is_output: bool
) -> Probe:
    """Run one and two copies of a real input to learn the output count and whether batches work."""
    layer = get_submodule(model.module, embedding_layer) if embedding_layer and model.hookable else None
    emb = EmbeddingCollector(layer, output=embedding_is_output) if layer is not None else None
    if emb is not None:
        emb.attach(model.module, 1)
    try:
        return _probe(model, sample, emb)
    finally:
        if emb is not None:
            emb.detach()


def _probe(model: LoadedModel, sample: torch.Tensor, emb: EmbeddingCollector | None) -> Probe:
    with torch.inference_mode():
        try:
            out = model.module(sample[None])
        except Exception as exc:
            raise ReportError(
                f"the model fails on an input of shape {tuple(sample[None].shape)}: {_one_line(exc)} "
                "(check --preset/--resize/--crop)"
            ) from None
        out = logits_of(out)
        if out.dim() != 2:
            raise ReportError(f"the model returns shape {tuple(out.shape)}; expected (batch, classes) logits")
        emb_dim = int(emb.store[0].flatten(1).shape[1]) if emb is not None and emb.store else None
        if emb is not None:
            emb.store.clear()
        try:
            batchable = logits_of(model.module(torch.stack([sample, sample]))).shape[0] == 2
        except Exception:
            batchable = False
    return Probe(int(out.shape[1]), tuple(sample.shape), emb_dim, batchable)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _to_device(batch: Batch, *, device: torch.device) -> Batch:
    if batch.images is not None and device.type == "cuda":
        batch.images = batch.images.to(device, non_blocking=True)
    return batch


def run_pass(
    model: LoadedModel,
    paths: Sequence[Path],
    transform: Callable,
    *,
    num_outputs: int,
    device: torch.device,
    labels: np.ndarray | None = None,
    batch_size: int = 64,
    workers: int = 0,
    collectors: Sequence[Collector] = (),
    progress: bool = True,
    decoder: DeviceDecoder | None = None,
    checkpoint: PassCheckpoint | None = None,
) -> PassArrays:
    """Run every image through the model once; return logits, sizes and what the collectors gathered.

    With a ``decoder`` (the build passes one on CUDA) the workers only read JPEG bytes and the device
    decodes and preprocesses them (:mod:`~confusion_report.gpu_decode`); ``transform`` is then unused.
    With a ``checkpoint`` (``--cache``, one process) the pass takes what an earlier, interrupted run
    finished, runs only the rest, and stores a part every ``checkpoint.every`` images and when it fails
    or is interrupted (:mod:`~confusion_report.checkpoint`). Faults of the model (it raises, runs out
    of memory, returns NaN) are handled as :mod:`~confusion_report.pass_faults` describes.
    """
    import time

    from tqdm import tqdm

    start = time.perf_counter()
    n = len(paths)

    def say(message: str) -> None:
        if progress:
            tqdm.write(message, file=sys.stderr)

    previous = checkpoint.load(n) if checkpoint is not None else None
    todo = np.arange(n) if previous is None else np.setdiff1d(np.arange(n), covered_positions(previous))
    if previous is not None:
        say(f"pass: resuming from a checkpoint: {previous.resumed} of {n} images done; running the other {len(todo)}")
        if len(todo) == 0:
            return replace(previous, seconds=time.perf_counter() - start)
    # Images earlier runs sent to the model, and how many of those came back non-finite.
    ran_before = 0 if previous is None else len(previous.indices) + count_non_finite(previous.skipped)
    non_finite_before = 0 if previous is None else count_non_finite(previous.skipped)
    module = model.module
    if device.type == "cuda":
        module = module.to(device)
        with contextlib.suppress(Exception):  # exported graphs may refuse a memory-format change
            module = module.to(memory_format=torch.channels_last)
    with contextlib.suppress(Exception):  # frozen parameters: no collector ever builds a graph through them
        module.requires_grad_(False)
    autocast, _ = autocast_for(device)
    grad_mode = torch.enable_grad if any(c.needs_grad for c in collectors) else torch.inference_mode
    todo_paths = [paths[i] for i in todo]
    # CPU decoding: what collectors can measure on the preprocessed images runs in the loader's workers.
    by_name = {c.name: c for c in collectors}
    measures = {c.name: fn for c in collectors if (fn := c.loader_measure()) is not None} if decoder is None else {}
    loader = DataLoader(
        decoder.dataset(todo_paths) if decoder is not None else ImageDataset(todo_paths, transform),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=decoder.collate if decoder is not None else Collate(measures),
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )
    labels_t = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    logits = np.zeros((n, num_outputs), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    sizes = np.zeros((n, 2), dtype=np.int32)
    conversions: dict[str, int] = {}
    skipped: list[tuple[int, str]] = []
    fresh = _Fresh()  # what this run finished since its last checkpoint
    runner = HalvingRunner(batch_size, device=device, say=say)
    ran = non_finite = 0
    first_non_finite: Path | None = None
    bar = tqdm(total=len(todo), desc="pass", unit="img", disable=not progress, file=sys.stderr, leave=False)

    def part() -> PassArrays:
        keep = np.sort(np.concatenate(fresh.ok)) if fresh.ok else np.zeros(0, dtype=np.int64)
        extras: dict[str, np.ndarray] = {}
        for c in collectors:
            extras.update(c.result(keep))
        note = runner.note()
        return PassArrays(
            indices=keep,
            logits=logits[keep],
            sizes=sizes[keep],
            extras=extras,
            conversions=dict(sorted(fresh.conversions.items())),
            skipped=tuple(sorted(fresh.skipped)),
            seconds=time.perf_counter() - start,
            notes=(note,) if note else (),
        )

    with contextlib.ExitStack() as attached:
        for c in collectors:
            attached.enter_context(c.attached(module, n))
        attached.callback(bar.close)
        try:
            with grad_mode():
                for batch_no, batch in enumerate(
                    device_batches(loader, decoder or partial(_to_device, device=device), device), start=1
                ):
                    failed = [(int(todo[i]), reason) for i, reason in batch.failed]
                    skipped.extend(failed)
                    fresh.skipped.extend(failed)
                    if batch.mismatch:
                        raise ReportError(
                            f"images of different sizes in one batch ({batch.mismatch}); pass --resize and --crop "
                            "(or a --preset) so every image has the model's input size"
                        )
                    if batch.images is not None:
                        pos = todo[np.asarray(batch.indices)]
                        for name, arrays in batch.measured.items():
                            by_name[name].take_measured(pos, arrays)
                        x = batch.images.to(device, non_blocking=True)
                        if device.type == "cuda":
                            x = x.contiguous(memory_format=torch.channels_last)
                        y = None if labels_t is None else labels_t[pos].to(device, non_blocking=True)

                        def step(lo: int, hi: int, x=x, y=y, pos=pos) -> np.ndarray:
                            xs = x[lo:hi]
                            try:
                                with autocast:
                                    out = logits_of(module(xs))
                            except Exception as exc:
                                if is_out_of_memory(exc):
                                    raise
                                raise ModelRaised() from exc  # the model's own failure, not the pass's
                            for c in collectors:
                                c.after_forward(pos[lo:hi], xs, out, None if y is None else y[lo:hi])
                            return out.detach().float().cpu().numpy()

                        out = runner.run(step, len(pos), batch_no=batch_no, files=[paths[i] for i in pos])
                        reasons = non_finite_reasons(out)
                        good = np.array([r is None for r in reasons], dtype=bool)
                        bad = [(int(p), r) for p, r in zip(pos.tolist(), reasons, strict=True) if r is not None]
                        logits[pos[good]] = out[good]
                        ok[pos[good]] = True
                        sizes[pos] = np.asarray(batch.sizes, dtype=np.int32)
                        fresh.ok.append(pos[good])
                        skipped.extend(bad)
                        fresh.skipped.extend(bad)
                        ran += len(pos)
                        non_finite += len(bad)
                        if bad and first_non_finite is None:
                            first_non_finite = paths[bad[0][0]]
                        check_mostly_finite(
                            non_finite_before + non_finite, ran_before + ran, first=first_non_finite, final=False
                        )
                        for conv in batch.conversions:
                            if conv:
                                conversions[conv] = conversions.get(conv, 0) + 1
                                fresh.conversions[conv] = fresh.conversions.get(conv, 0) + 1
                    done = len(batch.indices) + len(batch.failed)
                    bar.update(done)
                    fresh.count += done
                    if checkpoint is not None and fresh.count >= checkpoint.every:
                        checkpoint.save(part())
                        fresh = _Fresh()
        except BaseException:
            # Failed or interrupted (Ctrl-C): keep what this run finished, so a rerun resumes after it.
            if checkpoint is not None and fresh.count:
                with contextlib.suppress(Exception):
                    checkpoint.save(part())
            raise
    check_mostly_finite(non_finite_before + non_finite, ran_before + ran, first=first_non_finite, final=True)
    keep = np.flatnonzero(ok)
    extras: dict[str, np.ndarray] = {}
    for c in collectors:
        extras.update(c.result(keep))
    note = runner.note()
    arrays = PassArrays(
        indices=keep,
        logits=take_rows(logits, keep),
        sizes=take_rows(sizes, keep),
        extras=extras,
        conversions=dict(sorted(conversions.items())),
        skipped=tuple(sorted(skipped)),
        seconds=time.perf_counter() - start,
        notes=(note,) if note else (),
    )
    if previous is None:
        return arrays
    # The pass time of a resumed run is this run's: the images it took from the checkpoint cost nothing.
    return replace(merge_parts([previous, arrays]), seconds=arrays.seconds, resumed=previous.resumed)


@dataclass
class _Fresh:
    """What the pass finished since its last checkpoint: used positions, skips, conversions, images seen."""

    ok: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    conversions: dict[str, int] = field(default_factory=dict)
    count: int = 0
