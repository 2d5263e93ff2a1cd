"""Stage 4, media: decide which images the report shows and encode every thumbnail and overlay.

The one place where pictures become data URIs: dataset images as WebP thumbnails, the explain
stage's overlays and feature maps (numbers until here) through :mod:`~confusion_report.render.overlay`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..explain.pictures import FeatureMapPicture, OverlayPicture, Picture
from ..render.overlay import gray_uri, overlay_uri
from ..render.thumbnails import array_uri, make_thumbnails
from .analyse import Analysis


@dataclass(frozen=True)
class Media:
    """Data URIs by key (a relative image path, or an ``xp:``/``xa:`` picture key), and what failed."""

    uris: dict[str, str]
    warnings: tuple[str, ...]


def shown_paths(analysis: Analysis) -> list[str]:
    """Every dataset image the report shows, in the order the page shows them, each once."""
    paths = [img.path for g in analysis.galleries for img in (*g.errors, *g.typical_true, *g.typical_pred)]
    paths += analysis.diagnostics.shown_paths()
    paths += analysis.features.media_paths
    paths += analysis.why.shown_paths()
    return list(dict.fromkeys(paths))


def encode_picture(picture: Picture) -> str:
    """One overlay or feature map as a data URI."""
    if isinstance(picture, OverlayPicture):
        return overlay_uri(picture.rgb, picture.heat, signed=picture.signed)
    if isinstance(picture, FeatureMapPicture):
        return gray_uri(picture.heat)
    raise TypeError(f"not a picture: {type(picture).__name__}")


def media_stage(analysis: Analysis, *, root: Path) -> Media:
    """Thumbnails of the shown images and the encoded overlays.

    Encoding runs on every core: PIL's decoders and WebP/PNG encoders release the GIL, and a 10,000-image
    CIFAR report encodes about 1,400 pictures (1 s on one core). Results keep their order."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        uris, failed = make_thumbnails(root, shown_paths(analysis), map_fn=pool.map)
        pictures = analysis.why.pictures
        uris.update(zip(pictures, pool.map(encode_picture, pictures.values()), strict=True))
        # Issue 16: the interventions' before/after images.
        edited = analysis.interventions.pictures
        uris.update(zip(edited, pool.map(lambda picture: array_uri(picture.rgb), edited.values()), strict=True))
    warnings = (f"{len(failed)} image(s) could not be read for thumbnails.",) if failed else ()
    return Media(uris=uris, warnings=warnings)
