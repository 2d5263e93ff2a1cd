"""Models that fail the way real ones do (NaN, raising, out of memory, slow), for the fault-injection tests.

Each subclasses :class:`builders.ColourNet`, so ColourNet's state_dict loads into it with
``--arch tests/fault_models.py:Name``. The probe before the pass runs batches of one and two images;
"pass batches" below are those of three or more.
"""

from __future__ import annotations

import torch

from builders import ColourNet

# Probing forwards use one and two images; the pass in these tests runs batches of 3 or more.
PROBE_BATCH = 2


class NaNNet(ColourNet):
    """NaN logits for every image (``everywhere``) or only for near-black images (a division by zero)."""

    def __init__(self, everywhere: bool = True) -> None:
        super().__init__()
        self.everywhere = everywhere

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        dark = x.flatten(1).amax(dim=1) < 0.2
        bad = torch.ones_like(dark) if self.everywhere else dark
        return torch.where(bad[:, None], torch.full_like(out, float("nan")), out)


class RaisingNet(ColourNet):
    """Raises on its ``fail_on_batch``-th pass batch (1-based), as a model with a bug or a bad input would."""

    def __init__(self, fail_on_batch: int | None = 5) -> None:
        super().__init__()
        self.fail_on_batch = fail_on_batch
        self.pass_batches = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > PROBE_BATCH:
            self.pass_batches += 1
            if self.pass_batches == self.fail_on_batch:
                raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x7 and 3x3)")
        return super().forward(x)


class OutOfMemoryNet(ColourNet):
    """Raises CUDA's out-of-memory error (on any device) for batches larger than ``fits``."""

    def __init__(self, fits: int = PROBE_BATCH) -> None:
        super().__init__()
        self.fits = fits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.fits:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {x.shape[0]} GiB")
        return super().forward(x)
