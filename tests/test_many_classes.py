"""A thousand classes: planted confusions are found and shown readably; the page stays small and usable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from browser import open_report
from confusion_report import build
from confusion_report.analyses.class_groups import group_confusion, read_class_groups
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions
from confusion_report.errors import DataError
from confusion_report.results import Confusion, ReportData
from many_classes_builders import PlantedNet, plant, write_images

N_CLASSES = 1000
GROUP_SIZE = 100


@pytest.fixture(scope="module")
def planted():
    """1,000 classes, 8 planted one-way pairs and 5 clusters of 6 classes (20 images each), 2 elsewhere."""
    return plant(N_CLASSES, per_class=2, planted_per_class=20, n_pairs=8, n_clusters=5)


@pytest.fixture(scope="module")
def many(tmp_path_factory, planted):
    """The report of the planted 1,000-class model, built with groups of 100 consecutive classes."""
    root = tmp_path_factory.mktemp("many")
    data = write_images(planted, root / "data")
    groups = root / "groups.csv"
    groups.write_text(
        "class,group\n" + "".join(f"{name},group_{k // GROUP_SIZE}\n" for k, name in enumerate(planted.names))
    )
    out, js = root / "report.html", root / "results.json"
    result = build(
        PlantedNet(N_CLASSES).eval(),
        data,
        out=out,
        json_path=js,
        preset="none",
        workers=0,
        progress=False,
        explain=(),
        projection="pca",
        class_groups=groups,
    )
    return result, out, js


def _figure(html: str, figure_id: str) -> str:
    match = re.search(rf'<figure class="submatrix" id="{figure_id}">(.*?)</figure>', html, re.S)
    assert match, f"no sub-matrix {figure_id}"
    return match.group(1)


def test_planted_top_pairs_lead_the_ranking_and_fill_the_top_submatrix(many, planted) -> None:
    """The 8 planted pairs are the 8 top pairs; each appears, labelled and linked, in the top sub-matrix."""
    result, out, _ = many
    top = {(p.true, p.pred) for p in result.pairs[: len(planted.top_pairs)]}
    assert top == set(planted.top_pairs)
    html = out.read_text(encoding="utf-8")
    sub = _figure(html, "confusion-top")
    for true, pred in planted.top_pairs:
        assert f">{true}<title>" in sub and f">{pred}<title>" in sub  # row/column labels
        pair = next(p for p in result.pairs if (p.true, p.pred) == (true, pred))
        assert re.search(rf'href="#(row-)?{pair.anchor}"', sub), pair.anchor


def test_a_single_error_in_a_one_image_class_does_not_top_the_pairs(many, planted) -> None:
    """The 1-of-1 error (rate 100%) ranks below every planted pair."""
    result, _, _ = many
    ranks = {p.true: k for k, p in enumerate(result.pairs)}
    assert result.pairs[ranks[planted.tiny_class]].rate == 1.0
    assert ranks[planted.tiny_class] >= len(planted.top_pairs)


def test_planted_clusters_are_found_and_each_gets_a_submatrix(many, planted) -> None:
    """Every planted cluster is one found cluster, drawn in its own sub-matrix with all its classes."""
    result, out, _ = many
    found = [frozenset(c.classes) for c in result.clusters]
    html = out.read_text(encoding="utf-8")
    for cluster in planted.clusters:
        assert cluster in found, sorted(cluster)
        sub = _figure(html, f"confusion-cluster-{found.index(cluster) + 1}")
        assert all(f">{name}<title>" in sub for name in cluster)


def test_many_class_report_has_an_overview_instead_of_a_million_svg_cells(many) -> None:
    """One raster overview with hover data; the only SVG cells are the sub-matrices'."""
    _, out, _ = many
    html = out.read_text(encoding="utf-8")
    assert html.count('id="overview-img"') == 1 and 'src="data:image/png;base64,' in html
    assert html.count('class="hm-cell"') < 2000
    hover = json.loads(re.search(r'id="overview-data">(.*?)</script>', html, re.S).group(1))
    assert len(hover["classes"]) == N_CLASSES and len(hover["cells"]) % 3 == 0


def test_json_stores_the_matrix_sparsely_and_render_reads_it_back(many) -> None:
    """Above 50 classes confusion.sparse replaces counts; from_json rebuilds the same dense matrix."""
    result, _, js = many
    data = json.loads(js.read_text(encoding="utf-8"))
    assert "counts" not in data["confusion"]
    sparse = data["confusion"]["sparse"]
    assert sparse["format"] == "coo" and sparse["shape"] == [N_CLASSES, N_CLASSES]
    dense = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    dense[sparse["row"], sparse["col"]] = sparse["count"]
    assert np.array_equal(dense, np.asarray(result.confusion.counts))
    again = ReportData.from_json(js.read_text(encoding="utf-8"))
    assert again.confusion == result.confusion


def test_small_matrices_keep_dense_counts_in_the_json() -> None:
    """At 50 classes or fewer confusion.counts stays the readable list of rows."""
    confusion = Confusion(classes=("a", "b"), counts=((3, 1), (0, 4)), order=(0, 1))
    from confusion_report.serde import to_jsonable

    assert to_jsonable(confusion) == {"classes": ["a", "b"], "counts": [[3, 1], [0, 4]], "order": [0, 1]}


def test_rank_prefers_a_supported_confusion_over_a_one_of_one_error() -> None:
    """5 of 50 errors outrank the single image of a one-image class predicted wrong."""
    labels = np.array([0] * 50 + [1] * 50 + [2])
    preds = labels.copy()
    preds[:5] = 1
    preds[-1] = 0
    logits = np.eye(3)[preds] * 5.0
    p = Predictions(
        names=("a", "b", "c"), paths=tuple(f"p{i}" for i in range(len(labels))), labels=labels, logits=logits
    )
    pairs = rank_pairs(p)
    assert [(q.true, q.pred) for q in pairs] == [("a", "b"), ("c", "a")]
    assert pairs[1].rate == 1.0 > pairs[0].rate


def test_class_groups_split_errors_within_and_across(tmp_path: Path) -> None:
    """Errors inside a group count as within, others as across; the order keeps each group together."""
    path = tmp_path / "groups.csv"
    path.write_text("class,group\ncat,animal\ncar,vehicle\ndog,animal\nunknown_class,x\n")
    mapping = read_class_groups(path, ("car", "cat", "dog", "truck"))
    assert mapping == {"cat": "animal", "car": "vehicle", "dog": "animal"}
    counts = ((8, 0, 1, 1), (0, 7, 3, 0), (0, 2, 8, 0), (4, 0, 0, 6))  # car, cat, dog, truck
    groups = group_confusion(Confusion(("car", "cat", "dog", "truck"), counts, (0, 1, 2, 3)), mapping)
    assert (groups.within, groups.across) == (5, 6)  # cat<->dog 5; car->dog, car->truck, truck->car
    by_name = {g.name: g for g in groups.groups}
    assert by_name["animal"].within == 5 and by_name["vehicle"].across == 2
    assert groups.ungrouped == ("truck",) and by_name["(no group)"].top_other == "vehicle"
    names = [("car", "cat", "dog", "truck")[i] for i in groups.order]
    assert abs(names.index("cat") - names.index("dog")) == 1


def test_class_groups_file_must_name_the_datas_classes(tmp_path: Path) -> None:
    """A file with none of the classes, or a class in two groups, is refused with the reason."""
    path = tmp_path / "groups.csv"
    path.write_text("x,y\n")
    with pytest.raises(DataError, match="names none"):
        read_class_groups(path, ("a", "b"))
    path.write_text("a,g1\na,g2\n")
    with pytest.raises(DataError, match="two groups"):
        read_class_groups(path, ("a", "b"))


def test_report_shows_within_and_across_group_confusion(many) -> None:
    """The groups of 100 classes are summarised, and the overview outlines one block per group."""
    result, out, _ = many
    groups = result.class_groups
    assert groups is not None and len(groups.groups) == N_CLASSES // GROUP_SIZE
    assert groups.within + groups.across == result.metrics.n_errors
    html = out.read_text(encoding="utf-8")
    blocks = re.search(r'<svg class="overview-blocks".*?</svg>', html, re.S).group(0)
    assert blocks.count("<rect") == len(groups.groups)
    assert "of the errors stay within a group" in html


def test_hovering_the_overview_names_the_cell_and_its_count(browser, many, planted) -> None:
    """Pointing at the cell of a planted pair shows its two classes and its count."""
    result, out, _ = many
    page, log, _ = open_report(browser, out)
    hover = json.loads(page.locator("#overview-data").text_content())
    true, pred = planted.top_pairs[0]
    row, col = hover["classes"].index(true), hover["classes"].index(pred)
    count = next(p.count for p in result.pairs if (p.true, p.pred) == (true, pred))
    img = page.locator("#overview-img")
    img.scroll_into_view_if_needed()
    box = img.bounding_box()
    n = len(hover["classes"])
    page.mouse.move(box["x"] + (col + 0.5) * box["width"] / n, box["y"] + (row + 0.5) * box["height"] / n)
    readout = page.locator("#overview-readout")
    assert readout.get_attribute("data-true") == true and readout.get_attribute("data-pred") == pred
    assert readout.get_attribute("data-count") == str(count)
    assert f"{true} → predicted {pred}: {count}" in readout.inner_text()
    assert page.locator("#overview-tip").is_visible()
    assert log.console_errors == [] and log.page_errors == []
    page.close()


def test_class_table_pages_worst_first_and_filters_by_name(browser, many) -> None:
    """50 rows per page, lowest F1 first; typing a name leaves only the matching classes."""
    result, out, _ = many
    page, log, _ = open_report(browser, out)
    rows = page.locator("#class-table tbody tr:not([hidden])")
    assert rows.count() == 50
    first = rows.first.locator("td").first.inner_text()
    assert first == min(result.metrics.per_class, key=lambda c: (c.f1, c.recall, c.name)).name
    page.fill("input.table-filter", "class_012")
    assert rows.count() == 10  # class_0120 .. class_0129
    assert all(t.startswith("class_012") for t in rows.locator("td:first-child").all_inner_texts())
    page.fill("input.table-filter", "")
    page.click(".table-pager button:has-text('next')")
    assert rows.count() == 50 and rows.first.locator("td").first.inner_text() != first
    assert log.console_errors == [] and log.page_errors == []
    page.close()


def test_cli_class_groups_option_puts_groups_in_the_report(tmp_path: Path, colour_folder: Path) -> None:
    """`build --class-groups FILE` on a 3-class set: red->green crosses groups, blue->red stays within."""
    import torch
    from click.testing import CliRunner

    from builders import ColourNet
    from confusion_report.cli import main

    weights = tmp_path / "colour.pt"
    torch.save(ColourNet().state_dict(), weights)
    groups = tmp_path / "groups.csv"
    groups.write_text("red,warm\nblue,warm\ngreen,cool\n")
    out = tmp_path / "r.html"
    args = ["build", "--model", str(weights), "--data", str(colour_folder), "--preset", "none", "--workers", "0"]
    args += ["--arch", f"{Path(__file__).with_name('builders.py')}:ColourNet", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, [*args, "--class-groups", str(groups)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))
    assert (data["class_groups"]["within"], data["class_groups"]["across"]) == (2, 3)
    assert 'class="hm-block"' in html  # the small SVG matrix outlines the groups too
