"""Per-image statistics of what the model sees: brightness, contrast, saturation, sharpness, grayscale.

The engine computes them in the pass (``collectors/image_stats.py``, same formulas in torch, on the
device); :func:`image_statistics` is the numpy reference used by tests and by callers without the pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ITU-R BT.601 luma weights: brightness as people perceive it rather than the plain channel mean.
LUMA = (0.299, 0.587, 0.114)
# Two 8-bit steps: JPEG chroma noise on a grey image stays below this, any real colour exceeds it.
GRAY_TOLERANCE = 2.0 / 255.0
STAT_NAMES = ("brightness", "contrast", "saturation", "sharpness", "grayscale")


def image_statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a batch ``(N, 3, H, W)`` of RGB values in [0, 1] (already un-normalised).

    brightness: mean luma; contrast: standard deviation of luma; saturation: mean HSV saturation
    ``(max - min) / max``; sharpness: variance of the 4-neighbour Laplacian of luma (low = blurry);
    grayscale: 1.0 when all three channels agree everywhere (within :data:`GRAY_TOLERANCE`).
    """
    x = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    luma = LUMA[0] * x[:, 0] + LUMA[1] * x[:, 1] + LUMA[2] * x[:, 2]
    mx, mn = x.max(axis=1), x.min(axis=1)
    sat = np.where(mx > 1e-6, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    lap = luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1] + luma[:, 1:-1, :-2] + luma[:, 1:-1, 2:] - 4 * luma[:, 1:-1, 1:-1]
    n = len(x)
    return {
        "brightness": luma.reshape(n, -1).mean(axis=1),
        "contrast": luma.reshape(n, -1).std(axis=1),
        "saturation": sat.reshape(n, -1).mean(axis=1),
        "sharpness": lap.reshape(n, -1).var(axis=1) if lap.size else np.zeros(n),
        "grayscale": ((mx - mn).reshape(n, -1).max(axis=1) <= GRAY_TOLERANCE).astype(np.float64),
    }


@dataclass(frozen=True)
class ImageStats:
    """Per-image properties aligned with the prediction arrays (not serialised: slices summarise them)."""

    brightness: np.ndarray
    contrast: np.ndarray
    saturation: np.ndarray
    sharpness: np.ndarray
    grayscale: np.ndarray  # bool
    width: np.ndarray  # original size, before preprocessing
    height: np.ndarray

    @classmethod
    def from_arrays(cls, stats: dict[str, np.ndarray], sizes: np.ndarray) -> ImageStats:
        """From the collector's arrays and the engine's ``sizes`` (W, H per image)."""
        return cls(
            brightness=np.asarray(stats["brightness"], dtype=np.float64),
            contrast=np.asarray(stats["contrast"], dtype=np.float64),
            saturation=np.asarray(stats["saturation"], dtype=np.float64),
            sharpness=np.asarray(stats["sharpness"], dtype=np.float64),
            grayscale=np.asarray(stats["grayscale"]) > 0.5,
            width=np.asarray(sizes)[:, 0].astype(np.float64),
            height=np.asarray(sizes)[:, 1].astype(np.float64),
        )

    def continuous(self) -> dict[str, np.ndarray]:
        """The properties sliced by quantiles: name -> values. ``size`` is sqrt(width * height) in px."""
        return {
            "brightness": self.brightness,
            "contrast": self.contrast,
            "saturation": self.saturation,
            "sharpness": self.sharpness,
            "size": np.sqrt(self.width * self.height),
            "aspect ratio": self.width / np.maximum(self.height, 1.0),
        }
