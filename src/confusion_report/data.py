"""Find the labelled images (ImageFolder layout or CSV manifest) and decode them to RGB.

Nothing here imports torch: the renderer reuses :func:`load_rgb` for thumbnails. Every file that is
found but not used is recorded as a :class:`~confusion_report.results.SkippedFile` with its reason.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataError
from .results import SkippedFile

# torchvision's ImageFolder list, plus upper-case variants through lower().
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")

# Pillow refuses images above ~179 Mpx as a "decompression bomb"; we keep that guard.
Image.MAX_IMAGE_PIXELS = 179_000_000


@dataclass(frozen=True)
class ImageRecord:
    """One labelled image: its absolute path, its path relative to the data root, its class name."""

    path: Path
    rel: str
    label: str


@dataclass(frozen=True)
class DatasetIndex:
    """The result of discovery: the class names in folder order, the usable records, what was skipped."""

    root: Path
    source: str
    classes: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    skipped: tuple[SkippedFile, ...]
    empty_classes: tuple[str, ...]

    @property
    def n_found(self) -> int:
        """How many files were found (used or skipped)."""
        return len(self.records) + len(self.skipped)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the image extensions ImageFolder accepts."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def discover_folder(root: Path, *, only_classes: Sequence[str] | None = None) -> DatasetIndex:
    """Index an ImageFolder tree: one sub-folder per class, images anywhere below it.

    Files that are not images, files outside any class folder and empty class folders are recorded,
    never dropped silently.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    class_dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    skipped: list[SkippedFile] = []
    for p in sorted(root.iterdir(), key=lambda p: p.name):
        if p.is_file():
            skipped.append(SkippedFile(_rel(p, root), "not inside a class folder"))
    if not class_dirs:
        raise DataError(f"no class folders in {root}: expected the ImageFolder layout root/<class>/<image>")
    if only_classes:
        names = {p.name for p in class_dirs}
        unknown = [c for c in only_classes if c not in names]
        if unknown:
            raise DataError(f"--classes names folders that do not exist in {root}: {', '.join(unknown)}")
    records: list[ImageRecord] = []
    empty: list[str] = []
    for class_dir in class_dirs:
        found = 0
        for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
            dirnames.sort()
            base = Path(dirpath)
            # The relative path by string, once per folder: Path.relative_to per file cost 1 s at 50,000 files.
            rel_dir = _rel(base, root)
            for name in sorted(filenames):
                path = base / name
                rel = f"{rel_dir}/{name}"
                if is_image_name(name):
                    records.append(ImageRecord(path, rel, class_dir.name))
                    found += 1
                else:
                    skipped.append(SkippedFile(rel, f"not an image file (extension {path.suffix or 'none'!r})"))
        if found == 0:
            empty.append(class_dir.name)
    return DatasetIndex(
        root=root,
        source="folder",
        classes=tuple(p.name for p in class_dirs),
        records=tuple(records),
        skipped=tuple(skipped),
        empty_classes=tuple(empty),
    )


def discover_csv(manifest: Path) -> DatasetIndex:
    """Index a CSV manifest with ``path`` and ``label`` columns; paths are relative to the CSV's folder.

    Rows whose file is missing are skipped with a reason; classes are the sorted distinct labels.
    """
    manifest = Path(manifest)
    root = manifest.parent
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "path" not in fields or "label" not in fields:
            raise DataError(f"{manifest}: a CSV manifest needs a header with 'path' and 'label' columns")
        reader.fieldnames = fields
        records: list[ImageRecord] = []
        skipped: list[SkippedFile] = []
        for line_no, row in enumerate(reader, start=2):
            raw_path = (row.get("path") or "").strip()
            label = (row.get("label") or "").strip()
            if not raw_path or not label:
                skipped.append(SkippedFile(raw_path or f"<row {line_no}>", f"row {line_no}: empty path or label"))
                continue
            path = Path(raw_path)
            if not path.is_absolute():
                path = root / path
            if not path.is_file():
                skipped.append(SkippedFile(raw_path, "file not found"))
                continue
            records.append(ImageRecord(path, _rel(path, root), label))
    classes = tuple(sorted({r.label for r in records}))
    return DatasetIndex(
        root=root, source="csv", classes=classes, records=tuple(records), skipped=tuple(skipped), empty_classes=()
    )


def discover(data: Path, *, only_classes: Sequence[str] | None = None) -> DatasetIndex:
    """Index a folder (ImageFolder layout) or a ``.csv`` manifest, keeping only ``only_classes`` if given."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        index = discover_csv(data)
    elif data.is_dir():
        index = discover_folder(data, only_classes=only_classes)
    elif not data.exists():
        raise DataError(f"data not found: {data}")
    else:
        raise DataError(f"{data}: expected a folder of class folders or a .csv manifest (path,label)")
    if only_classes:
        keep = set(only_classes)
        index = DatasetIndex(
            root=index.root,
            source=index.source,
            classes=index.classes,
            records=tuple(r for r in index.records if r.label in keep),
            skipped=index.skipped,
            empty_classes=tuple(c for c in index.empty_classes if c in keep),
        )
    if not index.records:
        raise DataError(f"no images found in {data}")
    return index


def read_class_names(path: Path) -> tuple[str, ...]:
    """Read one class name per line (model output order); blank lines and ``#`` comments are ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read class names file {path}: {exc.strerror}") from exc
    names = tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
    if not names:
        raise DataError(f"class names file {path} is empty")
    if len(set(names)) != len(names):
        raise DataError(f"class names file {path} repeats a name")
    return names


def load_rgb(path: Path, *, at_least: int | None = None) -> tuple[Image.Image, str | None]:
    """Decode an image fully and convert it to 8-bit RGB.

    Returns the image and the conversion applied (``"grayscale"``, ``"alpha"``, ``"palette"``,
    ``"16-bit"``, ``"cmyk"``, ...) or ``None`` for an RGB source. Raises ``ValueError`` with a short
    reason for anything that cannot be decoded. With ``at_least`` (thumbnails), a JPEG may be decoded
    at 1/2, 1/4 or 1/8 scale as long as both sides stay at least that many pixels (its DCT scaling:
    a 375 x 500 photo for a 112-px thumbnail decodes at half size, about 3x faster).
    """
    try:
        with Image.open(path) as im:
            if at_least is not None:
                im.draft(im.mode, (at_least, at_least))  # a no-op for formats other than JPEG
            im.load()
            return to_rgb(im)
    except UnidentifiedImageError:
        raise ValueError("not a recognised image format") from None
    except Image.DecompressionBombError:
        raise ValueError("image too large (over 179 megapixels)") from None
    except (OSError, SyntaxError) as exc:
        # Pillow reports truncated and corrupt files as OSError/SyntaxError with a readable message.
        raise ValueError(f"cannot decode: {exc}") from None


def to_rgb(im: Image.Image) -> tuple[Image.Image, str | None]:
    mode = im.mode
    if im.width == 0 or im.height == 0:
        raise ValueError("image has zero size")
    if mode == "RGB":
        return im.copy(), None
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Scale high-bit-depth data into 0..255 instead of clipping, so 16-bit scans are not all white.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        if mode == "F":
            top = max(float(arr.max()), 1e-12)
        arr8 = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8).convert("RGB"), "16-bit"
    kind = {
        "L": "grayscale",
        "1": "grayscale",
        "LA": "alpha",
        "RGBA": "alpha",
        "PA": "alpha",
        "P": "palette",
        "CMYK": "cmyk",
        "YCbCr": None,
        "LAB": "lab",
        "HSV": "hsv",
    }.get(mode, mode.lower())
    # Same as torchvision's default loader (convert("RGB")), so results match how models are trained.
    return im.convert("RGB"), kind
