"""The built-in demo: a small CNN trained in seconds on scikit-learn's handwritten digits, reported on a held-out split.

The digits are real 8x8 scans that ship with scikit-learn, so nothing is downloaded. They are written
as PNG files in ImageFolder layout and the model is saved with torch.export, so the demo goes through
exactly the path a user's ``confusion-report build --model m.pt2 --data val/`` takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .demo_model import DigitsNet
from .results import ReportData

# Folder names sort in label order, as ImageFolder requires for the outputs to line up.
DIGIT_NAMES = tuple(str(d) for d in range(10))
# The model is deliberately small and briefly trained: a report on a perfect model would show nothing.
EPOCHS = 25
TEST_SHARE = 0.5
IMAGE_SCALE = 4  # 8x8 scans are saved at 32x32 (nearest), so thumbnails are legible


def write_digits(root: Path, *, seed: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Write the digits as PNGs under root/train/<name>/ and root/val/<name>/; return (path, label) lists."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    idx_train, idx_test = train_test_split(
        np.arange(len(digits.target)), test_size=TEST_SHARE, random_state=seed, stratify=digits.target
    )
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "val": []}
    for split, idx in (("train", idx_train), ("val", idx_test)):
        for i in sorted(idx):
            label = int(digits.target[i])
            folder = root / split / DIGIT_NAMES[label]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"digit_{i:04d}.png"
            pixels = (digits.images[i] * (255.0 / 16.0)).round().astype(np.uint8)
            Image.fromarray(pixels).resize((8 * IMAGE_SCALE,) * 2, Image.Resampling.NEAREST).save(path)
            out[split].append((path, label))
    return out["train"], out["val"]


def train_model(train: list[tuple[Path, int]], transform, *, seed: int) -> nn.Module:
    """A few epochs of Adam on the training split; returns the eval-mode model."""
    from .data import load_rgb

    torch.manual_seed(seed)
    x = torch.stack([transform(load_rgb(p)[0]) for p, _ in train])
    y = torch.tensor([label for _, label in train])
    model = DigitsNet(num_classes=len(DIGIT_NAMES))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(y), generator=gen).split(64):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            opt.step()
    return model.eval()


def run_demo(
    *, out: Path, workdir: Path, seed: int = 0, progress: bool = True, command: str = "confusion-report demo"
) -> ReportData:
    """Write the data, train, export the model to .pt2 and build the report from the held-out split."""
    from .api import build
    from .config import BuildConfig
    from .preprocess import build_transform, resolve_preprocessing

    workdir = Path(workdir)
    train, _ = write_digits(workdir, seed=seed)
    prep = dict(preset="none", resize=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    model = train_model(train, build_transform(resolve_preprocessing(**prep)), seed=seed)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (torch.zeros(2, 3, 16, 16),), dynamic_shapes=({0: batch},))
    model_path = workdir / "digits_cnn.pt2"
    torch.export.save(program, str(model_path))
    config = BuildConfig(
        out=Path(out),
        json_path=workdir / "results.json",
        predictions_path=workdir / "predictions.csv",
        workers=0,
        progress=progress,
        title="Demo: a small CNN on scikit-learn's handwritten digits (held-out half)",
        command=command,
        **prep,
    )
    return build(model_path, workdir / "val", config=config)
