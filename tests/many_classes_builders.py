"""A synthetic many-class classifier whose confusions are planted: known top pairs, clusters, noise.

No weights: every 8x8 PNG carries, in its first two pixels, the class the model must predict and
the true class (two bytes each), and a confidence byte; :class:`PlantedNet` reads them back and
returns logits whose arg-max is the planted prediction and whose runner-up is the true class.
The benchmark ``benchmarks/bench_many_classes.py`` uses the same builders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn


def class_name(k: int) -> str:
    """Zero-padded, so ImageFolder's sorted order is the index order."""
    return f"class_{k:04d}"


@dataclass(frozen=True)
class PlantedStructure:
    """Per image its true and planted predicted class, and the confusions planted among them."""

    names: tuple[str, ...]
    labels: np.ndarray
    preds: np.ndarray
    top_pairs: tuple[tuple[str, str], ...]
    clusters: tuple[frozenset[str], ...]
    tiny_class: str

    @property
    def n_images(self) -> int:
        return len(self.labels)


def plant(
    n_classes: int,
    *,
    per_class: int,
    planted_per_class: int,
    n_pairs: int,
    n_clusters: int,
    cluster_size: int = 6,
    pair_rate: float = 0.4,
    cluster_rate: float = 0.45,
    noise_rate: float = 0.05,
    seed: int = 0,
) -> PlantedStructure:
    """Plant ``n_pairs`` one-way pairs a -> b, ``n_clusters`` groups that trade errors among themselves,
    scattered noise errors, and one class with a single, misclassified image (a 1-of-1 error).

    Planted classes hold ``planted_per_class`` images, the others ``per_class``; the planted counts are
    exact (rate x support), the noise is random (seeded).
    """
    rng = np.random.default_rng(seed)
    picks = rng.permutation(n_classes - 1)  # the last class is the tiny one
    pair_classes = picks[: 2 * n_pairs].reshape(n_pairs, 2)
    cluster_classes = picks[2 * n_pairs : 2 * n_pairs + n_clusters * cluster_size].reshape(n_clusters, cluster_size)
    planted = set(pair_classes.ravel()) | set(cluster_classes.ravel())
    labels: list[int] = []
    preds: list[int] = []

    def add(true: int, support: int, wrong_to: list[int]) -> None:
        noise = int(rng.binomial(support - len(wrong_to), noise_rate)) if support > len(wrong_to) else 0
        others = rng.choice([k for k in range(n_classes - 1) if k != true], size=noise) if noise else []
        out = list(wrong_to) + [int(k) for k in others]
        out += [true] * (support - len(out))
        labels.extend([true] * support)
        preds.extend(out)

    wrong: dict[int, list[int]] = {}
    for a, b in pair_classes:
        wrong[int(a)] = [int(b)] * round(pair_rate * planted_per_class)
    for members in cluster_classes:
        for i, a in enumerate(members):
            others = [int(m) for m in members if m != a]
            k = round(cluster_rate * planted_per_class)
            wrong[int(a)] = [others[(i + j) % len(others)] for j in range(k)]
    for k in range(n_classes - 1):
        add(k, planted_per_class if k in planted else per_class, wrong.get(k, []))
    tiny = n_classes - 1
    labels.append(tiny)
    preds.append(int(picks[-1]))
    names = tuple(class_name(k) for k in range(n_classes))
    return PlantedStructure(
        names=names,
        labels=np.asarray(labels, dtype=np.int64),
        preds=np.asarray(preds, dtype=np.int64),
        top_pairs=tuple((names[a], names[b]) for a, b in pair_classes),
        clusters=tuple(frozenset(names[m] for m in members) for members in cluster_classes),
        tiny_class=names[tiny],
    )


def write_images(structure: PlantedStructure, root: Path, *, seed: int = 0) -> Path:
    """One 8x8 PNG per image in an ImageFolder tree; the first two pixels carry prediction and truth."""
    rng = np.random.default_rng(seed)
    for name in structure.names:
        (root / name).mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, (structure.n_images, 8, 8, 3), dtype=np.uint8)
    for i, (true, pred) in enumerate(zip(structure.labels, structure.preds, strict=True)):
        px = pixels[i]
        px[0, 0] = (pred >> 8, pred & 255, px[0, 0, 2])  # blue byte: confidence
        px[0, 1] = (true >> 8, true & 255, 0)
        Image.fromarray(px).save(root / structure.names[true] / f"img_{i:06d}.png", compress_level=1)
    return root


class PlantedNet(nn.Module):
    """Decodes the planted prediction and truth from the pixels; logits are prototype similarities.

    The embedding (input of ``fc``) is the planted class's prototype, mixed with the true class's for
    an error, so the runner-up is the true class; a small convolution feeds it too, so Grad-CAM has
    a spatial layer and a gradient.
    """

    def __init__(self, n_classes: int, *, dim: int = 128, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        protos = torch.randn(n_classes, dim, generator=g)
        self.register_buffer("prototypes", protos / protos.norm(dim=1, keepdim=True))
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mix = nn.Linear(4, dim)
        self.fc = nn.Linear(dim, n_classes, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(self.prototypes)
            self.mix.weight.mul_(0.01)
            self.mix.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        byte = (x[:, :, 0, :2] * 255).round().long()  # (N, 3 channels, 2 pixels)
        pred = (byte[:, 0, 0] * 256 + byte[:, 1, 0]).clamp(0, len(self.prototypes) - 1)
        true = (byte[:, 0, 1] * 256 + byte[:, 1, 1]).clamp(0, len(self.prototypes) - 1)
        confidence = x[:, 2, 0, 0]
        wrong = (pred != true).float()[:, None]
        emb = self.prototypes[pred] * (1 - 0.3 * wrong) + 0.3 * wrong * self.prototypes[true]
        emb = emb * (8 + 8 * confidence[:, None]) + self.mix(self.pool(torch.relu(self.stem(x))).flatten(1))
        return self.fc(emb)
