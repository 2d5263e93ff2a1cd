"""Class and file names are untrusted: markup in them is shown as text and never runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browser import open_report, scroll_through
from builders import COLOURS, ColourNet, colour_image
from confusion_report import build

HOSTILE_CLASSES = [
    "<img src=x onerror=alert(1)>",
    "\"quoted\" 'single' & amp",
    "猫 ünïcödé",
    "space name",
    "long " + "x" * 180,
]
HOSTILE_FILES = ["<svg onload=alert(2)>.png", 'it\'s "x" & y.png', "ñ 文件.png", "sp ace.png", "y" * 150 + ".png"]


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    seed = 0
    for name in HOSTILE_CLASSES:
        folder = data / name
        folder.mkdir(parents=True)
        # Every class gets red, green and blue images, so every class is confused with others.
        for i, file_name in enumerate(HOSTILE_FILES):
            seed += 1
            colour = list(COLOURS.values())[i % 3]
            colour_image(colour, seed=seed).save(folder / file_name)
    out, js = root / "report.html", root / "results.json"
    build(
        ColourNet(num_classes=len(HOSTILE_CLASSES)).eval(),
        data,
        out=out,
        json_path=js,
        preset="none",
        workers=0,
        progress=False,
        title="<script>alert('title')</script>",
    )
    return out, js


def test_hostile_names_are_escaped_in_the_html(hostile_report: tuple[Path, Path]) -> None:
    """No raw markup from a name reaches the HTML; the JSON keeps the exact names."""
    out, js = hostile_report
    html = out.read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<svg onload" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    names = json.loads(js.read_text(encoding="utf-8"))["dataset"]["classes"]
    assert sorted(names) == sorted(HOSTILE_CLASSES)


def test_hostile_names_run_nothing_in_the_browser(browser, hostile_report: tuple[Path, Path]) -> None:
    """No dialog opens, no injected element exists, and the names read correctly on the page."""
    out, _ = hostile_report
    page, log, url = open_report(browser, out)
    scroll_through(page)
    assert log.dialogs == []
    assert log.page_errors == [] and log.console_errors == []
    assert log.network_requests(url) == []
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], svg[onload], [onerror]').length") == 0
    # Every executable script is one of the report's own (allowed by hash in its policy); none came from a name.
    own = page.evaluate("document.querySelectorAll('script:not([type=\"application/json\"])').length")
    policy = page.evaluate("document.querySelector('meta[http-equiv]').content")
    assert own == policy.count("'sha256-")
    executable = "[...document.scripts].filter(s => s.type !== 'application/json')"
    assert page.evaluate(f"{executable}.some(s => s.textContent.includes('alert('))") is False
    text = page.inner_text("body")
    assert "<img src=x onerror=alert(1)>" in text and "猫 ünïcödé" in text
    assert page.title() == "<script>alert('title')</script>"
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    data = json.loads(page.evaluate("document.getElementById('report-data').textContent"))
    assert set(data["dataset"]["classes"]) == set(HOSTILE_CLASSES)
    page.close()
