"""What can go wrong inside the pass, and what the pass does about it.

- The model raises: a one-line :class:`ModelRunError` that names the batch, its first files and the
  model's own message (the traceback stays on the exception for ``--verbose``).
- The device runs out of memory: the batch is split in halves and retried, and later batches keep the
  smaller size; only an image that does not fit alone gives up.
- The model returns NaN or infinite outputs: those images are left out like unreadable files, with a
  reason; when most outputs are non-finite the model is broken and the build stops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import ModelRunError

if TYPE_CHECKING:
    from .pass_arrays import PassArrays

# Reasons of images left out for their outputs start with this (the report counts them by it).
NON_FINITE_REASON = "non-finite model output"
# A pass whose first this-many outputs are all non-finite stops there: running the rest cannot help.
EARLY_NON_FINITE = 512


class ModelRaised(Exception):
    """The model's forward raised (not the pass's own code); the original is ``__cause__``."""


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or a backend's RuntimeError that says it ran out of memory (MPS, ...)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class HalvingRunner:
    """Run a batch through ``step`` in chunks no larger than the current size; halve it on out-of-memory.

    ``step(lo, hi)`` runs rows ``lo:hi`` of the batch and returns their logits. The size found to fit
    is kept for later batches, so the pass does not fail and retry on every batch.
    """

    def __init__(self, batch_size: int, *, device: torch.device, say: Callable[[str], None]) -> None:
        self.size = batch_size
        self.first_size = batch_size
        self.device = device
        self.say = say

    def run(
        self, step: Callable[[int, int], np.ndarray], n: int, *, batch_no: int, files: Sequence[Path]
    ) -> np.ndarray:
        """Logits of the ``n`` rows of one batch, in order."""
        out: list[np.ndarray] = []
        lo = 0
        while lo < n:
            hi = min(n, lo + self.size)
            try:
                out.append(step(lo, hi))
                lo = hi
                continue
            except ModelRaised as exc:
                cause = exc.__cause__ or exc
                error = ModelRunError(
                    f"the model failed on batch {batch_no} ({describe_files(files)}): "
                    f"{type(cause).__name__}: {one_line(cause)}"
                )
                raise error from cause
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                if hi - lo == 1:
                    raise ModelRunError(
                        f"out of memory on batch {batch_no} even with one image per forward ({describe_files(files)}): "
                        f"{one_line(exc)}; use a smaller input size or another device"
                    ) from exc
            # Out of memory: retry outside the except block, so the exception's frames (and the tensors
            # they hold) are released before the smaller chunk allocates.
            self.size = max(1, (hi - lo) // 2)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self.say(f"warning: out of memory on batch {batch_no} with {hi - lo} images; retrying with {self.size}")
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def note(self) -> str | None:
        """A sentence for the report when the batch had to shrink, else None."""
        if self.size == self.first_size:
            return None
        return (
            f"The device ran out of memory at batch size {self.first_size}; the pass halved the batch and "
            f"finished with {self.size} images per forward (pass a smaller --batch-size to skip the retries)."
        )


def describe_files(files: Sequence[Path], *, shown: int = 3) -> str:
    """``"4 images: a.png, b.png, c.png, ..."``: enough to find the batch, short enough for one line."""
    names = ", ".join(str(f) for f in files[:shown]) + (", ..." if len(files) > shown else "")
    return f"{len(files)} image{'s' if len(files) != 1 else ''}: {names}"


def non_finite_reasons(logits: np.ndarray) -> list[str | None]:
    """Per row, why its output cannot be used (NaN or infinite values), or None when it is finite."""
    nan = np.isnan(logits).any(axis=1)
    inf = np.isinf(logits).any(axis=1)
    reasons: list[str | None] = []
    for has_nan, has_inf in zip(nan.tolist(), inf.tolist(), strict=True):
        if has_nan:
            reasons.append(f"{NON_FINITE_REASON}: the model returned NaN for this image")
        elif has_inf:
            reasons.append(f"{NON_FINITE_REASON}: the model returned an infinite value for this image")
        else:
            reasons.append(None)
    return reasons


def count_non_finite(skipped: Sequence) -> int:
    """How many skipped entries (``(position, reason)`` pairs or objects with ``reason``) are non-finite outputs."""
    count = 0
    for s in skipped:
        reason = s[1] if isinstance(s, tuple) else getattr(s, "reason", "")
        count += str(reason).startswith(NON_FINITE_REASON)
    return count


def check_mostly_finite(non_finite: int, ran: int, *, first: Path | None, final: bool) -> None:
    """Stop the build when the model looks broken: most outputs non-finite (or the first many, all).

    ``ran`` counts images that reached the model. A few NaN images are odd inputs and are listed; a
    majority is a broken model (weights, preprocessing, dtype), and a report on the rest would mislead.
    """
    if non_finite == 0:
        return
    broken = (final and non_finite * 2 > ran) or (not final and ran >= EARLY_NON_FINITE and non_finite == ran)
    if not broken:
        return
    where = f" (first: {first})" if first is not None else ""
    scope = f"{non_finite} of {ran} images" if final else f"all of the first {ran} images"
    raise ModelRunError(
        f"the model returned NaN or infinite outputs for {scope}{where}: it looks broken; check its weights, "
        "the preprocessing (--preset, --mean, --std) and that it runs in float32"
    )


def pass_notes(arrays: PassArrays) -> list[str]:
    """The sentences the report adds about how the pass went: resumed, batch halved, non-finite outputs."""
    notes = list(arrays.notes)
    if arrays.resumed:
        notes.append(
            f"The pass was resumed from a checkpoint: {arrays.resumed} images came from an earlier, interrupted "
            "run; the pass time covers only the rest."
        )
    bad = count_non_finite(arrays.skipped)
    if bad:
        notes.append(
            f"{bad} image(s) gave NaN or infinite outputs and were left out (listed under Data with the reason)."
        )
    return notes
