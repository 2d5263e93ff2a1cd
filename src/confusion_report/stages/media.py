"""Stage 4, media: decide which images the report shows and encode every thumbnail and overlay.

The one place where pictures become data URIs: dataset images as WebP thumbnails, the explain
stage's overlays and feature maps (numbers until here) through :mod:`~confusion_report.render.overlay`.

Encoding starts before this stage: the analyse stage hands each group of pictures to a
:class:`MediaEncoder` as soon as it is known (the galleries' images before the explain pass, the
overlays before the interventions), so that on a CPU the encoding runs beside the model's extra
forwards instead of after them. :func:`media_stage` hands over whatever is left and waits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from ..explain.pictures import FeatureMapPicture, OverlayPicture, Picture
from ..interventions.outcome import EditedPicture
from ..render.overlay import gray_uri, overlay_uri
from ..render.thumbnails import array_uri, thumbnail_or_none
from .analyse import Analysis, gallery_paths


@dataclass(frozen=True)
class Media:
    """Data URIs by key (a relative image path, or an ``xp:``/``xa:`` picture key), and what failed."""

    uris: dict[str, str]
    warnings: tuple[str, ...]


def shown_paths(analysis: Analysis) -> list[str]:
    """Every dataset image the report shows, in the order the page shows them, each once."""
    paths = gallery_paths(analysis.galleries)
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


class MediaEncoder:
    """Encodes thumbnails and pictures on background threads; each key once, whenever it is handed over.

    PIL's decoders and WebP/PNG encoders release the GIL, and a 10,000-image CIFAR report encodes about
    1,400 pictures (1 s on one core), so the threads use a core the model's extra forwards leave
    (and share both with them where torch runs on both). Use as a context manager: leaving it cancels
    what was not started (a failed build does not wait for its pictures)."""

    def __init__(self, root: Path, *, workers: int | None = None) -> None:
        self.root = root
        # One core fewer than the machine has: the model's extra forwards run on the main thread meanwhile.
        workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media")
        self._jobs: dict[str, tuple[Callable[[], str | None], Future[str | None]]] = {}  # key -> (encode, job)

    def __enter__(self) -> MediaEncoder:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def thumbnails(self, paths: Iterable[str]) -> None:
        """Dataset images by relative path; one that cannot be read is reported by :meth:`collect`."""
        for rel in paths:
            self._submit(rel, partial(thumbnail_or_none, self.root, rel))

    def pictures(self, pictures: Mapping[str, Picture]) -> None:
        """The explain stage's overlays and feature maps, by picture key."""
        for key, picture in pictures.items():
            self._submit(key, partial(encode_picture, picture))

    def edited(self, pictures: Mapping[str, EditedPicture]) -> None:
        """The interventions' before/after images, by picture key."""
        for key, picture in pictures.items():
            self._submit(key, partial(array_uri, picture.rgb))

    def _submit(self, key: str, encode: Callable[[], str | None]) -> None:
        if key not in self._jobs:
            self._jobs[key] = (encode, self._pool.submit(encode))

    def collect(self) -> Media:
        """Wait for everything handed over; the URIs in hand-over order and a warning for unreadable images.

        What the pool has not started yet is encoded here as well, from the back of the queue while the
        pool works from the front: the calling thread has nothing else to do by now."""
        inline: dict[str, str | None] = {}
        for key, (encode, job) in reversed(self._jobs.items()):
            if job.cancel():
                inline[key] = encode()
        uris: dict[str, str] = {}
        failed = []
        for key, (_, job) in self._jobs.items():
            # an encoder's exception (not an unreadable image, which is None) is a bug: let it through
            uri = inline[key] if key in inline else job.result()
            if uri is None:
                failed.append(key)
            else:
                uris[key] = uri
        warnings = (f"{len(failed)} image(s) could not be read for thumbnails.",) if failed else ()
        return Media(uris=uris, warnings=warnings)


def media_stage(analysis: Analysis, *, root: Path, encoder: MediaEncoder | None = None) -> Media:
    """Thumbnails of the shown images and the encoded overlays: those ``encoder`` already has, and the rest."""
    if encoder is None:
        with MediaEncoder(root) as own:
            return media_stage(analysis, root=root, encoder=own)
    encoder.thumbnails(shown_paths(analysis))
    encoder.pictures(analysis.why.pictures)
    encoder.edited(analysis.interventions.pictures)  # issue 16
    return encoder.collect()
