"""The explain stage's pictures as numbers: the media stage turns them into data URIs with the thumbnails."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class OverlayPicture:
    """A heat map (any resolution) to blend over an image (H x W x 3 in 0..1 or uint8); ``signed`` maps
    are centred at white (evidence for and against), the others scaled by their maximum."""

    rgb: np.ndarray
    heat: np.ndarray
    signed: bool = False


@dataclass(frozen=True, eq=False)
class FeatureMapPicture:
    """One channel of a feature map, drawn alone."""

    heat: np.ndarray


Picture = OverlayPicture | FeatureMapPicture
