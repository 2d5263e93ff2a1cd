"""Size and opening time of the report for 10,000 images (issue: the report as a product).

    python benchmarks/bench_report_page.py [--images 10000]

Generates N small images in 10 classes (a tiny model that confuses three of them), builds the report,
then opens it from file:// in headless Chromium several times and prints the file size and the median
DOMContentLoaded and load times. Targets: under 15 MB and DOMContentLoaded under 2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from confusion_report import build

CLASSES = [f"class_{k}" for k in range(10)]


class TinyNet(nn.Module):
    """Logits from per-class template matching on 4x4 pooled images, with deliberate mixing of 0/1/2."""

    def __init__(self, templates: torch.Tensor) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(templates[0].numel(), len(templates))
        with torch.no_grad():
            self.fc.weight.copy_(templates.flatten(1) * 8)
            self.fc.bias.copy_(-(templates.flatten(1) ** 2).sum(1) * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(x).flatten(1))


def make_data(root: Path, n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 1, (10, 3, 4, 4))
    templates[1] = templates[0] * 0.92 + templates[1] * 0.08  # classes 0, 1, 2 look alike
    templates[2] = templates[0] * 0.92 + templates[2] * 0.08
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        k = i % 10
        img = np.kron(templates[k], np.ones((1, 8, 8))) + rng.normal(0, 0.5, (3, 32, 32))
        arr = (np.clip(img, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)
        Image.fromarray(arr).save(root / CLASSES[k] / f"img_{i:06d}.png")
    return torch.tensor(templates, dtype=torch.float32)


def open_times(path: Path, runs: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium")
    if binary is None:
        sys.exit("chromium not found (apt-get install chromium)")
    dcl, load = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=binary,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        for _ in range(runs):
            page = browser.new_page()
            page.goto(path.resolve().as_uri(), wait_until="load")
            timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")

            t = json.loads(timing)
            dcl.append(t["domContentLoadedEventEnd"] / 1000)
            load.append(t["loadEventEnd"] / 1000)
            page.close()
        browser.close()
    return dcl, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        templates = make_data(root / "data", args.images)
        print(f"generated {args.images} images in {time.perf_counter() - t0:.1f} s")
        out = root / "report.html"
        t0 = time.perf_counter()
        result = build(TinyNet(templates).eval(), root / "data", out=out, preset="none", workers=2, progress=False)
        print(
            f"build: {time.perf_counter() - t0:.1f} s, accuracy {result.metrics.accuracy:.3f}, "
            f"top pair {result.pairs[0].true}->{result.pairs[0].pred}"
        )
        size = out.stat().st_size
        dcl, load = open_times(out, args.runs)
        print(f"report size: {size / 1e6:.2f} MB (target < 15 MB): {'OK' if size < 15e6 else 'OVER'}")
        print(
            f"DOMContentLoaded median {statistics.median(dcl):.3f} s, max {max(dcl):.3f} s "
            f"(target < 2 s): {'OK' if statistics.median(dcl) < 2 else 'OVER'}"
        )
        print(f"load event median {statistics.median(load):.3f} s")


if __name__ == "__main__":
    main()
