"""Rendering: self-contained output, the heatmap's drawn cells, atomic writes, API inputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from confusion_report import build
from confusion_report.render import html as html_mod
from confusion_report.render.heatmap import heatmap_cells
from confusion_report.results import Confusion


def test_report_references_nothing_outside_itself(colour_net, colour_folder: Path, tmp_path: Path) -> None:
    """Every src/href is a data: URI or an in-page anchor; every gallery image is an inline thumbnail."""
    out = tmp_path / "r.html"
    result = build(colour_net, colour_folder, out=out, preset="none", workers=0, progress=False)
    html = out.read_text(encoding="utf-8")
    # Markup only: the inlined Vega library mentions URLs in its code, which never run offline (the
    # browser tests check that no request is made).
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)
    refs = re.findall(r'(?:src|href)="([^"]*)"', markup)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), [r for r in refs if not r.startswith("data:")]
    assert "http://" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in markup
    shown = {img.path for g in result.galleries for img in (*g.errors, *g.typical_true, *g.typical_pred)}
    assert shown and shown <= set(result.media)
    assert (
        markup.count("<img ")
        == markup.count('src="data:image/')
        >= sum(len(g.errors) + len(g.typical_true) + len(g.typical_pred) for g in result.galleries)
    )


def test_heatmap_draws_one_cell_per_nonzero_count_and_links_error_cells() -> None:
    """Zero cells are not drawn; the errors-only view drops the diagonal; error cells link to pairs."""
    from confusion_report.results import Pair

    counts = ((5, 2, 0), (0, 7, 1), (0, 0, 9))
    confusion = Confusion(classes=("a", "b", "c"), counts=counts, order=(0, 1, 2))
    pair = Pair("a", "b", 2, 2 / 7, 2 / 3, 0, 0.8, "pair-a-b")
    cells = heatmap_cells(confusion, (pair,), off_diagonal=False)
    assert len(cells) == int((np.asarray(counts) > 0).sum()) == 5
    off = heatmap_cells(confusion, (pair,), off_diagonal=True)
    assert [(c.true, c.pred, c.count) for c in off] == [("a", "b", 2), ("b", "c", 1)]
    assert off[0].href == "pair-a-b" and off[1].href is None
    assert off[0].color != off[1].color  # scaled to the largest error rate


def test_interrupted_write_keeps_the_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the previous file intact and no temporary file behind."""
    target = tmp_path / "report.html"
    target.write_text("old report")

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(html_mod.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        html_mod.write_atomic(target, "new report")
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_api_accepts_a_torchvision_image_folder_dataset(colour_net, colour_folder: Path) -> None:
    """A dataset object with .samples and .classes works like the folder path."""
    import torchvision

    dataset = torchvision.datasets.ImageFolder(str(colour_folder))
    result = build(colour_net, dataset, out=None, preset="none", workers=0, progress=False)
    assert [(p.true, p.pred, p.count) for p in result.pairs] == [("red", "green", 3), ("blue", "red", 2)]
    assert result.dataset.source == "dataset"


def test_api_refuses_a_dataset_without_file_paths(colour_net) -> None:
    """A plain tensor dataset cannot be shown in galleries: the error says what to pass instead."""
    import torch

    from confusion_report.errors import DataError

    tensors = torch.utils.data.TensorDataset(torch.zeros(2, 3, 8, 8), torch.zeros(2))
    with pytest.raises(DataError, match="samples"):
        build(colour_net, tensors, out=None, preset="none", workers=0, progress=False)


def test_empty_class_folder_is_a_visible_warning(colour_net, colour_folder: Path, tmp_path: Path) -> None:
    """An empty class folder appears among the report's warnings and in the Data section."""
    (colour_folder / "zzz_empty").mkdir()
    from builders import ColourNet

    out = tmp_path / "r.html"
    result = build(ColourNet(num_classes=4).eval(), colour_folder, out=out, preset="none", workers=0, progress=False)
    assert result.dataset.empty_classes == ("zzz_empty",)
    assert any("zzz_empty" in w for w in result.warnings)
    assert "Empty class folders (no images): zzz_empty" in out.read_text(encoding="utf-8")
