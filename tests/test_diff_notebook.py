"""Inline display in notebooks: the report and the diff as sandboxed srcdoc iframes, tested in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import open_report
from builders import ColourNet, make_colour_folder
from confusion_report import build
from confusion_report.diff import diff
from confusion_report.render.notebook import NOTEBOOK_HEIGHT_PX
from diff_builders import FAST, worse_net


@pytest.fixture(scope="module")
def notebook_page(tmp_path_factory) -> tuple[Path, list]:
    """A page holding what Jupyter would show for ``build(...)`` and for ``diff(...)``, one after the other."""
    root = tmp_path_factory.mktemp("notebook")
    data = make_colour_folder(root / "data", confusions={("red", "green"): 3, ("blue", "red"): 2})
    base = build(ColourNet().eval(), data, out=None, title="Base run", **FAST)
    new = build(worse_net(), data, out=None, **FAST)
    shown = [base, diff(base, new, title="Base vs worse", max_class_recall_drop=5)]
    page = root / "notebook.html"
    cells = "".join(f'<div class="output">{obj._repr_html_()}</div>' for obj in shown)
    page.write_text(f"<!DOCTYPE html><html><body>{cells}</body></html>", encoding="utf-8")
    return page, shown


def test_save_writes_the_same_page_the_notebook_shows(notebook_page, tmp_path: Path) -> None:
    """`.save(path)` writes `to_html()`, which is what the iframe's srcdoc holds (escaped)."""
    from markupsafe import escape

    _, shown = notebook_page
    for k, obj in enumerate(shown):
        path = tmp_path / f"{k}.html"
        size = obj.save(path)
        html = path.read_text(encoding="utf-8")
        assert html == obj.to_html() and size == len(html.encode("utf-8")) and html.startswith("<!DOCTYPE html>")
        assert f'srcdoc="{escape(html)}"' in obj._repr_html_()


def test_inline_pages_render_in_sandboxed_frames_without_network_or_errors(browser, notebook_page) -> None:
    """Both frames draw their page (scripts run: a table sorts), fetch nothing and log no error."""
    path, shown = notebook_page
    page, log, url = open_report(browser, path)
    frames = page.locator("iframe.confusion-report")
    assert frames.count() == 2
    for k, obj in enumerate(shown):
        frame_el = frames.nth(k)
        assert frame_el.get_attribute("sandbox") == "allow-scripts"  # no same-origin: cannot touch the notebook
        assert round(frame_el.bounding_box()["height"]) == NOTEBOOK_HEIGHT_PX + 2  # plus the 1 px border
        frame = frame_el.element_handle().content_frame()
        assert frame.locator("h1").inner_text() == obj.title
        header = frame.locator("table.sortable th").first
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        frame.evaluate("[...document.images].forEach(i => { i.loading = 'eager'; })")
        page.wait_for_timeout(300)
        widths = frame.evaluate("[...document.images].map(i => i.naturalWidth)")
        assert widths and all(w > 0 for w in widths)
    diff_frame = frames.nth(1).element_handle().content_frame()
    flipped = shown[1].comparison.right_to_wrong
    assert diff_frame.locator("#flips-right-to-wrong figure.thumb img").count() == len(flipped) > 0
    assert log.network_requests(url) == []
    assert log.console_errors == [] and log.page_errors == []
    page.close()
