"""Tiny models whose explanations are known by construction, and the images they decide on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

SIDE = 32
SQUARE = 8  # the bright square covers the top-left 8x8 px: inside the top-left cell of a 3x3 grid


class CornerNet(nn.Module):
    """Two classes, ``plain`` (0) and ``square`` (1): the ``square`` logit grows with the bright pixels.

    ``features`` thresholds brightness (only the bright square survives the ReLU) and pools 4x4,
    so its 8x8 output is the target layer; the ``plain`` logit is a constant.
    """

    def __init__(self, gain: float = 40.0) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            conv.weight.fill_(1.0 / 3.0)
            conv.bias.fill_(-0.75)  # dim background (< 0.5) and noise never pass; the 0.95 square does
        self.features = nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(4))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[0.0], [gain]]))
            self.fc.bias.copy_(torch.tensor([0.3, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


class TwoSquareNet(nn.Module):
    """Classes ``red`` (0) and ``redblue`` (1): both logits see the red detector, only ``redblue`` sees blue.

    So the contrastive map of ``redblue`` minus ``red`` can only point at the blue square.
    """

    def __init__(self, gain: float = 40.0) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]]).reshape(2, 3, 1, 1))
            conv.bias.fill_(-0.3)
        self.features = nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(4))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[gain, 0.0], [gain, gain]]))
            self.fc.bias.copy_(torch.tensor([0.0, -0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def square_image(
    *, square: bool, corner: str = "top-left", colour=(0.95, 0.95, 0.95), seed: int = 0, side: int = SIDE
) -> np.ndarray:
    """A dim noisy H x W x 3 image in 0..1, with a bright square in one corner if asked."""
    rng = np.random.default_rng(seed)
    img = np.clip(0.3 + rng.normal(0, 0.05, (side, side, 3)), 0, 1)
    if square:
        r = 0 if corner.startswith("top") else side - SQUARE
        c = 0 if corner.endswith("left") else side - SQUARE
        img[r : r + SQUARE, c : c + SQUARE] = colour
    return img


def save(img: np.ndarray, path: Path) -> None:
    """Write a 0..1 image as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img * 255).round().astype(np.uint8)).save(path)


def make_corner_folder(root: Path, *, per_class: int = 8, planted: int = 3) -> Path:
    """plain/ and square/ images; ``planted`` plain images carry the square (errors: plain -> square)."""
    seed = 0
    for i in range(per_class):
        save(square_image(square=False, seed=(seed := seed + 1)), root / "plain" / f"p{i:02d}.png")
        save(square_image(square=True, seed=(seed := seed + 1)), root / "square" / f"s{i:02d}.png")
    for i in range(planted):
        save(square_image(square=True, seed=(seed := seed + 1)), root / "plain" / f"looks_square_{i}.png")
    return root


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """H x W x 3 in 0..1 -> 3 x H x W float tensor (the ``none`` preset)."""
    return torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1).contiguous()


class StagedNet(nn.Module):
    """Two stages: ``stage1`` sees one pixel at a time (1x1 convs), ``stage2`` sees neighbourhoods.

    On :func:`halves_batch` images (left half one colour, right half another) the pooled ``stage1``
    output is the same for both classes, whatever the weights: only ``stage2`` can separate them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stage2(self.stage1(x))).flatten(1))


def halves_batch(n: int, *, side: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: red left, blue right; class 1: blue left, red right (same colours, swapped places)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    red = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    blue = torch.tensor([0.1, 0.1, 0.9])[:, None, None]
    x = torch.empty(n, 3, side, side)
    half = side // 2
    for i in range(n):
        left, right = (red, blue) if y[i] == 0 else (blue, red)
        x[i, :, :, :half] = left
        x[i, :, :, half:] = right
    x += 0.05 * torch.randn(x.shape, generator=g)
    return x, y


def train_staged(*, steps: int = 100, seed: int = 0) -> StagedNet:
    """A StagedNet trained briefly (Adam, full batch) to tell the two halves classes apart."""
    torch.manual_seed(seed)
    net = StagedNet()
    x, y = halves_batch(128, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    return net.eval()
