"""What the one pass returns: per-image arrays over the decoded images, and how the pass went.

Its own module so that the cache, checkpoints, torchrun gathering and fault handling can share it
without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PassArrays:
    """Per-image arrays from the pass, aligned with ``indices`` (positions in the record list).

    ``extras`` holds what the collectors gathered, by name (``"embedding"``, ...). ``notes`` are
    sentences for the report about how the pass went (the batch halved after running out of memory);
    ``resumed`` counts the images taken from a checkpoint of an earlier, interrupted run (0 for a
    pass that ran whole). Images with non-finite outputs are in ``skipped``, with their reason.
    """

    indices: np.ndarray
    logits: np.ndarray
    sizes: np.ndarray
    extras: dict[str, np.ndarray]
    conversions: dict[str, int]
    skipped: tuple[tuple[int, str], ...]
    seconds: float
    notes: tuple[str, ...] = ()
    resumed: int = 0
