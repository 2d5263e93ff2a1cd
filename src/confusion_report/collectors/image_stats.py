"""Image statistics and the difference hash, computed in the one pass, on the device, from the tensor the
model sees: the near-duplicate check then needs no second decode of any file (at 10,000 CIFAR images with
many candidates, decoding them again for the hash cost 3.5 s, more than a third of the analyses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..analyses.duplicates import HASH_SIDE, pack_hash_bits
from ..analyses.image_stats import GRAY_TOLERANCE, LUMA, STAT_NAMES
from .base import Collector


@dataclass(frozen=True)
class ImageMeasure:
    """The statistics and hashes of a batch of preprocessed images: picklable, so the data loader's
    workers can run it (``mean``/``std``: the preprocessing's normalisation, undone first)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        """``stat_*`` float32 arrays and ``image_hash`` (uint64) per image; empty for a non-RGB batch."""
        if x.dim() != 4 or x.shape[1] != 3:
            return {}  # not an RGB image batch: nothing meaningful to measure
        with torch.no_grad():
            mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
            u = torch.addcmul(mean, x.detach().float(), std).clamp_(0.0, 1.0)
            luma = LUMA[0] * u[:, 0] + LUMA[1] * u[:, 1] + LUMA[2] * u[:, 2]
            mx, mn = u.amax(dim=1), u.amin(dim=1)
            spread = mx - mn
            sat = torch.where(mx > 1e-6, spread / mx.clamp_min(1e-6), torch.zeros_like(mx))
            lap = (
                luma[:, :-2, 1:-1]
                + luma[:, 2:, 1:-1]
                + luma[:, 1:-1, :-2]
                + luma[:, 1:-1, 2:]
                - 4 * luma[:, 1:-1, 1:-1]
            )
            var, brightness = torch.var_mean(luma.flatten(1), dim=1, correction=0)
            values = {
                "brightness": brightness,
                "contrast": var.sqrt(),
                "saturation": sat.flatten(1).mean(1),
                "sharpness": lap.flatten(1).var(1, correction=0) if lap.numel() else torch.zeros(len(u)),
                "grayscale": (spread.flatten(1).amax(1) <= GRAY_TOLERANCE).float(),
            }
            small = F.interpolate(luma[:, None], size=(HASH_SIDE, HASH_SIDE + 1), mode="bilinear", antialias=True)
            bits = small[:, 0, :, 1:] > small[:, 0, :, :-1]
        out = {f"stat_{k}": v.cpu().numpy().astype(np.float32) for k, v in values.items()}
        out["image_hash"] = pack_hash_bits(bits.flatten(1).cpu().numpy())
        return out


class ImageStatsCollector(Collector):
    """Brightness, contrast, saturation, sharpness, a grayscale flag and the dHash per image.

    The input is un-normalised with the preprocessing ``mean``/``std`` first, so the numbers describe
    the image (0..1) rather than the normalised tensor. Same formulas as
    :func:`confusion_report.analyses.image_stats.image_statistics`; the hash (``image_hash``, uint64) is
    :func:`~confusion_report.analyses.duplicates.dhash` of the image as the model sees it (the crop, after
    resizing), shrunk with an antialiased bilinear filter instead of PIL's Lanczos.

    With the CPU data loader the measuring runs in its workers (:meth:`loader_measure`), beside the
    forward rather than before it: at 10,000 CIFAR images it was 0.5 s of the main process's 15 s;
    with images decoded on the GPU it runs on the device after each forward.
    """

    name = "image_stats"
    cache_key = "dhash"  # cached passes from before the hash was gathered in the pass are not reused

    def __init__(self, *, mean: Sequence[float] | None, std: Sequence[float] | None) -> None:
        self.measure = ImageMeasure(
            tuple(mean) if mean is not None else (0.0, 0.0, 0.0), tuple(std) if std is not None else (1.0, 1.0, 1.0)
        )
        self.arrays: dict[str, np.ndarray] = {}
        self.measured = False
        self.in_loader = False

    def attach(self, module: nn.Module, n: int) -> None:
        self.arrays = {f"stat_{k}": np.zeros(n, dtype=np.float32) for k in STAT_NAMES}
        self.arrays["image_hash"] = np.zeros(n, dtype=np.uint64)
        self.measured = self.in_loader = False

    def loader_measure(self) -> ImageMeasure:
        return self.measure

    def take_measured(self, idx: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        self.in_loader = True  # the loader measures every batch from now on: after_forward has nothing to do
        self._store(idx, arrays)

    def after_forward(self, idx, x, logits, labels) -> None:
        if not self.in_loader:
            self._store(idx, self.measure(x))

    def _store(self, idx: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        for k, v in arrays.items():
            self.arrays[k][idx] = v
        self.measured = self.measured or bool(arrays)

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        # Nothing measured (inputs were not RGB batches): no statistics rather than zeros.
        if not self.measured:
            return {}
        return {k: v[keep] for k, v in self.arrays.items()}
