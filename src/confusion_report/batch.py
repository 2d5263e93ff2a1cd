"""What the data loader hands the pass: decoded images of one batch, stacked, and the files that failed.

Both loaders build :class:`Batch`: the CPU one through :class:`ImageDataset` + :class:`Collate`, the
GPU-decoding one in :mod:`~confusion_report.gpu_decode`; neither imports the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .data import load_rgb


class ImageDataset(Dataset):
    """Decodes and transforms one image per item; a failed decode yields its reason instead of a tensor."""

    def __init__(self, paths: Sequence[Path], transform: Callable) -> None:
        # One numpy array of strings, not a list of Path objects: forked workers touching Python objects
        # copy their pages (refcounts), which multiplies the list's memory by the number of workers.
        self.paths = np.array([str(p) for p in paths])
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            img, conversion = load_rgb(Path(str(self.paths[i])))
            size = img.size
            tensor = self.transform(img)
        except ValueError as exc:
            return i, None, str(exc), None, None
        except Exception as exc:  # a transform can fail on odd inputs; the file is reported, not lost
            return i, None, f"cannot preprocess: {exc}", None, None
        return i, tensor, None, size, conversion


@dataclass
class Batch:
    """What the collate function hands the pass: the good images stacked, the failed ones listed, and what
    the collectors' loader measures made of the images (by collector name)."""

    indices: list[int]
    images: torch.Tensor | None
    sizes: list[tuple[int, int]]
    conversions: list[str | None]
    failed: list[tuple[int, str]]
    mismatch: str | None = None
    measured: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def pin_memory(self) -> Batch:
        """Called by the DataLoader (``pin_memory=True``) so the copy to the GPU can be non-blocking."""
        if self.images is not None:
            self.images = self.images.pin_memory()
        return self


@dataclass(frozen=True)
class Collate:
    """Stack decodable images; keep failures and detect mixed input sizes with a clear message.

    ``measures`` (collector name -> picklable function of the stacked images) run here, in the data
    loader's worker processes, beside the main process's forward (see ``Collector.loader_measure``)."""

    measures: dict[str, Callable[[torch.Tensor], dict[str, np.ndarray]]] = field(default_factory=dict)

    def __call__(self, items) -> Batch:
        good = [it for it in items if it[1] is not None]
        failed = [(it[0], it[2]) for it in items if it[1] is None]
        shapes = {tuple(it[1].shape) for it in good}
        if len(shapes) > 1:
            return Batch([], None, [], [], failed, mismatch=", ".join(sorted(str(s) for s in shapes)))
        images = torch.stack([it[1] for it in good]) if good else None
        measured = {name: fn(images) for name, fn in self.measures.items()} if images is not None else {}
        return Batch(
            [it[0] for it in good], images, [it[3] for it in good], [it[4] for it in good], failed, None, measured
        )


collate = Collate()  # without loader measures
