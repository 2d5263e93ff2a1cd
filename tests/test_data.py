"""Discovery and decoding: ImageFolder and CSV, odd files listed, unusual image modes converted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from builders import colour_image
from confusion_report.data import discover, load_rgb, read_class_names
from confusion_report.errors import DataError


def _save(img: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def test_image_folder_lists_classes_records_and_odd_files(tmp_path: Path) -> None:
    """Class folders in sorted order; a text file, a file in the root and an empty class are reported."""
    _save(colour_image((1, 0, 0)), tmp_path / "b" / "one.png")
    _save(colour_image((0, 1, 0)), tmp_path / "a" / "sub" / "nested.png")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "stray.png").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    index = discover(tmp_path)
    assert index.classes == ("a", "b", "empty")
    assert [(r.rel, r.label) for r in index.records] == [("a/sub/nested.png", "a"), ("b/one.png", "b")]
    assert {s.path: s.reason for s in index.skipped} == {
        "stray.png": "not inside a class folder",
        "a/notes.txt": "not an image file (extension '.txt')",
    }
    assert index.empty_classes == ("empty",)


def test_csv_manifest_resolves_relative_paths_and_reports_missing_files(tmp_path: Path) -> None:
    """path,label rows relative to the CSV; a missing file and an empty label are skipped with reasons."""
    _save(colour_image((1, 0, 0)), tmp_path / "imgs" / "x.png")
    _save(colour_image((0, 1, 0)), tmp_path / "imgs" / "y.png")
    manifest = tmp_path / "val.csv"
    manifest.write_text("path,label\nimgs/x.png,cat\nimgs/y.png,dog\nimgs/gone.png,dog\nimgs/x.png,\n")
    index = discover(manifest)
    assert index.classes == ("cat", "dog")
    assert [(r.rel, r.label) for r in index.records] == [("imgs/x.png", "cat"), ("imgs/y.png", "dog")]
    assert [(s.path, s.reason) for s in index.skipped] == [
        ("imgs/gone.png", "file not found"),
        ("imgs/x.png", "row 5: empty path or label"),
    ]


def test_csv_without_required_columns_is_an_error(tmp_path: Path) -> None:
    """A manifest must name its columns."""
    manifest = tmp_path / "bad.csv"
    manifest.write_text("file,class\na.png,x\n")
    with pytest.raises(DataError, match="'path' and 'label'"):
        discover(manifest)


def test_only_classes_filter_rejects_unknown_names(tmp_path: Path) -> None:
    """Asking for a class folder that does not exist is an error, not an empty report."""
    _save(colour_image((1, 0, 0)), tmp_path / "a" / "x.png")
    with pytest.raises(DataError, match="nope"):
        discover(tmp_path, only_classes=["nope"])


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("L", "grayscale"), ("RGBA", "alpha"), ("P", "palette"), ("CMYK", "cmyk"), ("RGB", None)],
)
def test_load_rgb_converts_modes(tmp_path: Path, mode: str, kind: str | None) -> None:
    """Grayscale, RGBA, palette and CMYK images come back as RGB with the conversion named."""
    img = colour_image((0.8, 0.4, 0.1)).convert(mode)
    path = _save(img, tmp_path / ("x.jpg" if mode == "CMYK" else "x.png"))
    rgb, conversion = load_rgb(path)
    assert rgb.mode == "RGB" and rgb.size == (16, 16)
    assert conversion == kind


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    """A 16-bit gradient keeps its gradient after conversion instead of saturating to white."""
    arr = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    path = _save(Image.fromarray(arr), tmp_path / "deep.png")
    rgb, conversion = load_rgb(path)
    values = np.asarray(rgb)[..., 0]
    assert conversion == "16-bit"
    assert values.min() == 0 and values.max() == 255 and len(np.unique(values)) > 30


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "not a recognised image format"), (b"this is not a jpeg", "not a recognised image format")],
)
def test_undecodable_files_raise_value_error_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    """Empty and non-image files with an image extension are refused with a short reason."""
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        load_rgb(path)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    """A JPEG cut in half does not decode silently into a grey image."""
    path = _save(colour_image((0.5, 0.5, 0.5), size=64, noise=0.3), tmp_path / "full.jpg")
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot decode"):
        load_rgb(cut)


def test_class_names_file_ignores_comments_and_rejects_repeats(tmp_path: Path) -> None:
    """One name per line; comments and blanks skipped; a repeated name is an error."""
    names = tmp_path / "names.txt"
    names.write_text("# outputs\ncat\n\ndog\n")
    assert read_class_names(names) == ("cat", "dog")
    names.write_text("cat\ncat\n")
    with pytest.raises(DataError, match="repeats"):
        read_class_names(names)
