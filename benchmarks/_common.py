"""Helpers shared by the benchmark scripts: synthetic image folders, a timer, peak memory.

The benchmarks run from a source checkout (``python benchmarks/NAME.py``); this module puts ``src/``
first on ``sys.path`` so they measure the checkout, not whatever copy is installed.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def smooth_image(rng: np.random.Generator, side: int) -> Image.Image:
    """A photo-like picture (smooth colour field plus mild noise): it compresses like a real JPEG."""
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((side, side), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, (side, side, 3), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_folder(
    root: Path, *, n: int, classes: int, side: int, ext: str = "jpg", distinct: int | None = None, seed: int = 0
) -> Path:
    """An ImageFolder tree of ``n`` images over ``classes`` folders (reused when it already holds ``n``).

    With ``distinct`` set, only that many different files are encoded and the rest are hard links to
    them (copies where links fail): memory benchmarks need many files, not many different pixels.
    """
    root = Path(root)
    marker = root / f".complete-{n}-{classes}-{side}-{ext}-{distinct}"
    if marker.exists():
        return root
    rng = np.random.default_rng(seed)
    originals: list[Path] = []
    for i in range(n):
        folder = root / f"class_{i % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img_{i:07d}.{ext}"
        if distinct is not None and len(originals) >= distinct:
            source = originals[i % distinct]
            try:
                os.link(source, path)
            except OSError:
                path.write_bytes(source.read_bytes())
            continue
        smooth_image(rng, side).save(path, quality=90) if ext == "jpg" else smooth_image(rng, side).save(path)
        originals.append(path)
    marker.touch()
    return root


@contextmanager
def timed(label: str, store: dict[str, float]) -> Iterator[None]:
    """Store the wall-clock seconds of the block under ``label``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        store[label] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
