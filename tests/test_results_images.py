"""The results' per-image block (``images``): complete, compact, and optional for older files."""

from __future__ import annotations

import json
from pathlib import Path

from confusion_report import build
from confusion_report.results import ReportData
from diff_builders import FAST


def test_every_image_is_listed_once_with_its_label_prediction_and_confidence(colour_net, colour_folder: Path) -> None:
    """One entry per decoded image; the labels agree with the folders and the errors with the confusion matrix."""
    r = build(colour_net, colour_folder, out=None, **FAST)
    imgs = r.images
    assert len(imgs.paths) == len(set(imgs.paths)) == r.dataset.n_images
    assert all(imgs.classes[y] == path.split("/")[0] for path, y in zip(imgs.paths, imgs.labels, strict=True))
    assert sum(y != p for y, p in zip(imgs.labels, imgs.preds, strict=True)) == r.metrics.n_errors
    assert all(round(c, 3) == c and 0 < c <= 1 for c in imgs.confidence)


def test_json_file_keeps_the_block_on_one_line_and_reads_files_without_it(colour_net, colour_folder: Path) -> None:
    """--json writes the per-image lists on one line (not one value per line); a file without them still reads."""
    r = build(colour_net, colour_folder, out=None, **FAST)
    text = r.to_json()
    line = next(x for x in text.splitlines() if x.lstrip().startswith('"images"'))
    assert json.loads("{" + line + "}")["images"]["paths"] == list(r.images.paths)
    assert ReportData.from_json(text).images == r.images
    older = json.loads(text)
    del older["images"]
    assert ReportData.from_json(json.dumps(older)).images is None
