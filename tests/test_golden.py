"""The whole report for a tiny fixed model and dataset matches the gold file (volatile parts scrubbed)."""

from __future__ import annotations

from pathlib import Path

from builders import ColourNet, make_colour_folder
from confusion_report import build
from golden import compare_gold, scrub_html


def test_report_matches_gold(tmp_path: Path) -> None:
    """Structure, numbers, names and order of every section are as accepted (see tests/golden.py)."""
    data = make_colour_folder(tmp_path / "data", per_class=6, confusions={("red", "green"): 3, ("blue", "red"): 1})
    (data / "green" / "notes.txt").write_text("not an image")
    out = tmp_path / "report.html"
    build(ColourNet().eval(), data, out=out, preset="none", workers=0, progress=False, title="Golden colours")
    html = scrub_html(out.read_text(encoding="utf-8"), replacements={str(tmp_path): "TMP"})
    compare_gold("report.html", html)


def test_same_inputs_give_the_same_report_but_for_volatile_lines(tmp_path: Path) -> None:
    """Two builds differ only on the lines marked volatile (timestamp, timings) and the JSON line."""
    data = make_colour_folder(tmp_path / "data", per_class=5, confusions={("red", "green"): 2})
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    for out in (first, second):
        build(ColourNet().eval(), data, out=out, preset="none", workers=0, progress=False)
    a = first.read_text(encoding="utf-8").splitlines()
    b = second.read_text(encoding="utf-8").splitlines()
    assert len(a) == len(b)
    differing = [x for x, y in zip(a, b, strict=True) if x != y]
    assert all('class="volatile"' in line or 'id="report-data"' in line for line in differing), differing
    assert len(differing) <= 4
