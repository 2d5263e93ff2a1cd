"""Tiny models and image folders built in code, so no test needs a download or ../shared."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

# Output k of ColourNet looks at this RGB channel: blue, green, red (sorted folder names).
CLASS_CHANNELS = (2, 1, 0)


class ColourNet(nn.Module):
    """A tiny CNN whose logits are, by construction, the mean of each colour channel (times ``gain``).

    Classes are in ImageFolder (sorted) order of :data:`COLOURS`: 0 = blue, 1 = green, 2 = red, each
    "the image whose channel is brightest". Extra classes (k >= 3) get a constant logit ``-gain``. The
    embedding (input of ``fc``) is the three channel means.
    """

    def __init__(self, num_classes: int = 3, gain: float = 10.0) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, num_classes)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.fill_(-gain)
            for k, channel in enumerate(CLASS_CHANNELS[:num_classes]):
                self.fc.weight[k, channel] = gain
                self.fc.bias[k] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def colour_image(rgb: Sequence[float], *, size: int = 16, noise: float = 0.05, seed: int = 0) -> Image.Image:
    """A flat colour (0..1 per channel) with a little noise, as an 8-bit RGB image."""
    rng = np.random.default_rng(seed)
    arr = np.clip(np.asarray(rgb, dtype=np.float64) + rng.normal(0, noise, (size, size, 3)), 0, 1)
    return Image.fromarray((arr * 255).round().astype(np.uint8))


# Per class: colours of the correctly classified images and of the ones that look like another class.
COLOURS = {"red": (0.9, 0.2, 0.2), "green": (0.2, 0.9, 0.2), "blue": (0.2, 0.2, 0.9)}


def make_colour_folder(
    root: Path,
    *,
    per_class: int = 12,
    confusions: dict[tuple[str, str], int] | None = None,
    size: int = 16,
    ext: str = "png",
) -> Path:
    """An ImageFolder tree red/green/blue; ``confusions[(a, b)] = k`` files k images of a with b's colour.

    With :class:`ColourNet` the model's errors are then known exactly: k images of a predicted as b.
    """
    confusions = confusions or {}
    seed = 0
    for name, rgb in COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            seed += 1
            colour_image(rgb, size=size, seed=seed).save(folder / f"{name}_{i:03d}.{ext}")
    for (a, b), k in confusions.items():
        for i in range(k):
            seed += 1
            colour_image(COLOURS[b], size=size, seed=seed).save(root / a / f"looks_{b}_{i:03d}.{ext}")
    return root
