"""The media stage's background encoder: every picture once, in hand-over order, failures reported."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from confusion_report.explain.pictures import FeatureMapPicture, OverlayPicture
from confusion_report.interventions.outcome import EditedPicture
from confusion_report.render.thumbnails import thumbnail_uri
from confusion_report.stages.media import MediaEncoder


def _images(root: Path, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    rels = []
    for i in range(n):
        rel = f"cls/{i:03d}.jpg"
        (root / "cls").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(root / rel, quality=90)
        rels.append(rel)
    return rels


def test_encoder_returns_each_handed_over_picture_once_in_order(tmp_path: Path) -> None:
    """Thumbnails, overlays and edited images come back keyed and ordered as handed over, duplicates once."""
    rels = _images(tmp_path, 12)
    rgb = np.random.default_rng(1).random((32, 32, 3))
    with MediaEncoder(tmp_path, workers=1) as encoder:
        encoder.thumbnails(rels[:8])
        encoder.pictures({"xp:a": OverlayPicture(rgb, rgb[..., 0]), "xa:b": FeatureMapPicture(rgb[..., 1])})
        encoder.thumbnails([*rels[4:], rels[0]])  # overlaps the first hand-over
        encoder.edited({"iv:c": EditedPicture(rgb)})
        media = encoder.collect()
    assert list(media.uris) == [*rels[:8], "xp:a", "xa:b", *rels[8:], "iv:c"]
    assert all(uri.startswith("data:image/") for uri in media.uris.values())
    assert media.uris[rels[3]] == thumbnail_uri(tmp_path / rels[3])  # encoded inline or by the pool: the same
    assert media.warnings == ()


def test_encoder_reports_unreadable_images_instead_of_losing_them(tmp_path: Path) -> None:
    """A corrupt or missing file is left out of the URIs and counted in one warning."""
    rels = _images(tmp_path, 3)
    (tmp_path / "cls" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with MediaEncoder(tmp_path) as encoder:
        encoder.thumbnails([rels[0], "cls/broken.jpg", "cls/missing.png", rels[2]])
        media = encoder.collect()
    assert list(media.uris) == [rels[0], rels[2]]
    assert media.warnings == ("2 image(s) could not be read for thumbnails.",)


def test_jpeg_thumbnails_decoded_at_reduced_scale_keep_their_size(tmp_path: Path) -> None:
    """A large JPEG's thumbnail (decoded at a DCT scale) still fills the 112-px box."""
    Image.fromarray(np.full((900, 1200, 3), 128, dtype=np.uint8)).save(tmp_path / "big.jpg")
    uri = thumbnail_uri(tmp_path / "big.jpg")
    thumb = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert thumb.size == (112, 84)
