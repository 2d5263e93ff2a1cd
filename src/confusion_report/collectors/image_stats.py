"""Image statistics and the difference hash, computed in the one pass, on the device, from the tensor the
model sees: the near-duplicate check then needs no second decode of any file (at 10,000 CIFAR images with
many candidates, decoding them again for the hash cost 3.5 s, more than a third of the analyses)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..analyses.duplicates import HASH_SIDE, pack_hash_bits
from ..analyses.image_stats import GRAY_TOLERANCE, LUMA, STAT_NAMES
from .base import Collector


class ImageStatsCollector(Collector):
    """Brightness, contrast, saturation, sharpness, a grayscale flag and the dHash per image.

    The input is un-normalised with the preprocessing ``mean``/``std`` first, so the numbers describe
    the image (0..1) rather than the normalised tensor. Same formulas as
    :func:`confusion_report.analyses.image_stats.image_statistics`; the hash (``image_hash``, uint64) is
    :func:`~confusion_report.analyses.duplicates.dhash` of the image as the model sees it (the crop, after
    resizing), shrunk with an antialiased bilinear filter instead of PIL's Lanczos.
    """

    name = "image_stats"
    cache_key = "dhash"  # cached passes from before the hash was gathered in the pass are not reused

    def __init__(self, *, mean: Sequence[float] | None, std: Sequence[float] | None) -> None:
        self.mean = tuple(mean) if mean is not None else (0.0, 0.0, 0.0)
        self.std = tuple(std) if std is not None else (1.0, 1.0, 1.0)
        self.arrays: dict[str, np.ndarray] = {}
        self.measured = False

    def attach(self, module: nn.Module, n: int) -> None:
        self.arrays = {k: np.zeros(n, dtype=np.float32) for k in STAT_NAMES}
        self.hashes = np.zeros(n, dtype=np.uint64)
        self.measured = False

    def after_forward(self, idx, x, logits, labels) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            return  # not an RGB image batch: nothing meaningful to measure
        with torch.no_grad():
            mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
            u = (x.detach().float() * std + mean).clamp_(0.0, 1.0)
            luma = LUMA[0] * u[:, 0] + LUMA[1] * u[:, 1] + LUMA[2] * u[:, 2]
            mx, mn = u.amax(dim=1), u.amin(dim=1)
            sat = torch.where(mx > 1e-6, (mx - mn) / mx.clamp_min(1e-6), torch.zeros_like(mx))
            lap = (
                luma[:, :-2, 1:-1]
                + luma[:, 2:, 1:-1]
                + luma[:, 1:-1, :-2]
                + luma[:, 1:-1, 2:]
                - 4 * luma[:, 1:-1, 1:-1]
            )
            flat = luma.flatten(1)
            values = {
                "brightness": flat.mean(1),
                "contrast": flat.std(1, correction=0),
                "saturation": sat.flatten(1).mean(1),
                "sharpness": lap.flatten(1).var(1, correction=0) if lap.numel() else torch.zeros(len(u)),
                "grayscale": ((mx - mn).flatten(1).amax(1) <= GRAY_TOLERANCE).float(),
            }
            small = F.interpolate(luma[:, None], size=(HASH_SIDE, HASH_SIDE + 1), mode="bilinear", antialias=True)
            bits = small[:, 0, :, 1:] > small[:, 0, :, :-1]
        for k, v in values.items():
            self.arrays[k][idx] = v.cpu().numpy()
        self.hashes[idx] = pack_hash_bits(bits.flatten(1).cpu().numpy())
        self.measured = True

    def result(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        # Nothing measured (inputs were not RGB batches): no statistics rather than zeros.
        if not self.measured:
            return {}
        return {**{f"stat_{k}": v[keep] for k, v in self.arrays.items()}, "image_hash": self.hashes[keep]}
