"""Small WebP thumbnails of the images a report shows, as data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from ..data import load_rgb

THUMB_SIDE = 112
WEBP_QUALITY = 80


def thumbnail_uri(path: Path, *, side: int = THUMB_SIDE, quality: int = WEBP_QUALITY) -> str:
    """Decode, shrink to fit ``side`` px (never enlarge: the page scales small images crisply) and encode."""
    img, _ = load_rgb(path, at_least=side)
    return _webp_uri(img, side=side, quality=quality)


def array_uri(rgb: np.ndarray, *, side: int = THUMB_SIDE, quality: int = WEBP_QUALITY) -> str:
    """An H x W x 3 picture (0..1 floats or uint8) as a thumbnail data URI, like :func:`thumbnail_uri`."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    return _webp_uri(Image.fromarray(rgb), side=side, quality=quality)


def _webp_uri(img: Image.Image, *, side: int, quality: int) -> str:
    """Shrink in place to fit ``side`` px (never enlarge) and encode as a WebP data URI."""
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    # method 2 of 0-6: measured on 100 112-px photo crops, half the encoding time of method 4 for 3% more bytes
    img.save(buf, format="WEBP", quality=quality, method=2)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail_or_none(root: Path, rel: str) -> str | None:
    """The thumbnail of one image (a path relative to ``root``, or absolute), or None when it cannot be read."""
    try:
        return thumbnail_uri(Path(rel) if Path(rel).is_absolute() else root / rel)
    except (ValueError, OSError):
        return None


def make_thumbnails(
    root: Path, rel_paths: Iterable[str], *, map_fn: Callable = map
) -> tuple[dict[str, str], list[str]]:
    """Thumbnails for each relative path (deduplicated); also the paths that could not be read.

    ``map_fn`` (e.g. a thread pool's ``map``) encodes them; the result keeps the order of ``rel_paths``."""

    media: dict[str, str] = {}
    failed: list[str] = []
    unique = list(dict.fromkeys(rel_paths))
    for rel, uri in zip(unique, map_fn(lambda rel: thumbnail_or_none(root, rel), unique), strict=True):
        if uri is None:
            failed.append(rel)
        else:
            media[rel] = uri
    return media, failed
