"""What the intervention step returns: per finding, its ``evidence.intervention``; pictures as numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class EditedPicture:
    """An image (H x W x 3 in 0..1) before or after an intervention; the media stage encodes it."""

    rgb: np.ndarray


@dataclass(frozen=True)
class InterventionOutcome:
    """``results`` maps a finding's position in the list it was run on to its ``evidence.intervention``
    (``status`` "tested" or "not run" with a ``reason``); ``forwards`` counts the images re-run."""

    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    pictures: dict[str, EditedPicture] = field(default_factory=dict)
    forwards: int = 0
    budget: int = 0
    seconds: float = 0.0
