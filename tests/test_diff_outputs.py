"""The diff's two outputs: the Markdown comment (short, marked, escaped) and the self-contained HTML page."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from builders import ColourNet, make_colour_folder
from confusion_report import build
from confusion_report.diff import diff
from confusion_report.diff.markdown import MARKER, MAX_CHARS
from confusion_report.results import ImagePredictions, ReportData
from diff_builders import FAST, worse_net


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[ReportData, ReportData, Path]:
    data = make_colour_folder(
        tmp_path_factory.mktemp("diffout") / "data", confusions={("red", "green"): 3, ("blue", "red"): 2}
    )
    return build(ColourNet().eval(), data, out=None, **FAST), build(worse_net(), data, out=None, **FAST), data


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    block = markdown.split(heading, 1)[1].split("\n\n")[1]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines()[2:]]


def test_markdown_starts_with_the_marker_names_the_failed_gate_and_lists_the_worst_class_first(runs) -> None:
    """The hidden marker opens the comment; the failed gate and the class it names come before the rest."""
    base, new, _ = runs
    text = diff(base, new, max_class_recall_drop=5, max_accuracy_drop=50, report_url="https://x.test/d.html").markdown()
    assert text.splitlines()[0] == MARKER
    assert "❌ 1 of 2 gate(s) failed" in text
    failed = next(line for line in text.splitlines() if line.startswith("- ❌"))
    assert "max-class-recall-drop" in failed and "red recall" in failed
    assert _table_rows(text, "#### Classes, worst recall change first")[0][0] == "red"
    assert "[Open the full diff report](https://x.test/d.html)" in text
    assert "![" not in text and "<img" not in text  # no external images needed


def test_markdown_stays_short_and_escaped_for_many_classes_and_flips(runs) -> None:
    """300 long, hostile class names and 10,000 images with 3,000 flips stay far under GitHub's limit."""
    base, _, _ = runs
    rng = np.random.default_rng(0)
    k, n = 300, 10_000
    classes = tuple(f"<b>class|{i}</b> {'x' * 150}" for i in range(k))
    labels = rng.integers(0, k, n)
    preds_b = labels.copy()
    preds_n = labels.copy()
    flip = rng.choice(n, 3000, replace=False)
    preds_n[flip] = (labels[flip] + 1) % k
    paths = tuple(f"{classes[y]}/img_{i:05d}.png" for i, y in enumerate(labels))

    def run(preds: np.ndarray) -> ReportData:
        conf = tuple(float(v) for v in np.round(rng.uniform(0.3, 1, n), 3))
        imgs = ImagePredictions(classes, paths, tuple(map(int, labels)), tuple(map(int, preds)), conf)
        return dataclasses.replace(base, images=imgs, findings=())

    d = diff(run(preds_b), run(preds_n), max_class_recall_drop=1, thumbnails_from_files=False, bootstrap=20)
    text = d.markdown()
    assert len(text) < MAX_CHARS
    assert "<b>" not in text and "&lt;b&gt;class\\|" in text
    assert d.exit_code == 1


def test_html_page_holds_the_flip_gallery_gates_and_data_without_network(runs, tmp_path: Path) -> None:
    """The page shows each flipped image with both predictions, the gate verdicts and the embedded JSON."""
    base, new, _ = runs
    d = diff(base, new, max_class_recall_drop=5)
    out = tmp_path / "diff.html"
    size = d.save(out)
    html = out.read_text(encoding="utf-8")
    assert size == len(html.encode("utf-8")) and html == d.to_html()
    gallery = html.split('id="flips-right-to-wrong"', 1)[1].split('id="flips-wrong-to-right"', 1)[0]
    shown = set(re.findall(r'<figure class="thumb err" data-path="([^"]+)"', gallery))
    assert shown == {f.path for f in d.comparison.right_to_wrong}
    assert gallery.count('<img src="data:image/webp;base64,') == len(shown)
    assert 'data-gate="max-class-recall-drop"' in html and "✗ failed" in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1]
    assert "default-src 'none'" in csp and "unsafe-eval" not in csp
    embedded = json.loads(re.search(r'<script type="application/json" id="diff-data">(.*?)</script>', html, re.S)[1])
    assert embedded["exit_code"] == 1 and embedded["gates"][0]["classes"] == ["red"]
    assert len(embedded["comparison"]["right_to_wrong"]) == len(shown)


def test_thumbnails_come_from_the_runs_then_the_files_else_paths(runs, tmp_path: Path) -> None:
    """Without media the flips are drawn from the data folder; without that too they are listed by path."""
    base, new, data = runs
    no_media = [dataclasses.replace(r, media={}) for r in (base, new)]
    from_files = diff(*no_media)
    n = len(from_files.comparison.right_to_wrong)
    assert (from_files.media.from_runs, from_files.media.from_files, from_files.media.missing) == (0, n, ())
    assert str(data) in from_files.media.note
    elsewhere = str(tmp_path / "gone")
    gone = [dataclasses.replace(r, dataset=dataclasses.replace(r.dataset, root=elsewhere)) for r in no_media]
    listed = diff(*gone)
    assert len(listed.media.missing) == n and listed.media.media == {}
    html = listed.to_html()
    assert "listed by path only" in html and html.count('class="missing"') == n
    assert all(f.path in html for f in listed.comparison.right_to_wrong)
