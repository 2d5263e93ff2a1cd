"""The report in a real browser: offline, no errors, every image and chart drawn, navigation works."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import open_report, scroll_through
from confusion_report import build


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from builders import ColourNet, make_colour_folder

    root = tmp_path_factory.mktemp("browser")
    data = make_colour_folder(root / "data", confusions={("red", "green"): 3, ("blue", "red"): 2})
    out = root / "report.html"
    build(ColourNet().eval(), data, out=out, preset="none", workers=0, progress=False)
    return out


def test_report_opens_offline_without_errors_and_draws_everything(browser, report: Path) -> None:
    """No request leaves the page, no console error, every image decodes, every heatmap has its svg."""
    page, log, url = open_report(browser, report)
    scroll_through(page)
    assert log.network_requests(url) == []
    assert log.console_errors == [] and log.page_errors == []
    images = page.evaluate("[...document.images].map(i => [i.getAttribute('alt'), i.naturalWidth])")
    assert images and all(width > 0 for _, width in images), images
    assert all(alt for alt, _ in images)
    figures = page.locator(".heatmaps figure")
    assert figures.count() == 2
    for k in range(figures.count()):
        assert figures.nth(k).locator("svg rect.hm-cell").count() > 0
    page.close()


def test_table_of_contents_and_pair_anchors_navigate(browser, report: Path) -> None:
    """A TOC link scrolls to its section; a #pair-... link opens the pair's gallery."""
    page, log, _ = open_report(browser, report)
    page.click("nav.toc a[href='#classes']")
    assert log.console_errors == []
    page.wait_for_timeout(200)
    assert page.evaluate("location.hash") == "#classes"
    top = page.evaluate("document.getElementById('classes').getBoundingClientRect().top")
    header = page.evaluate("document.querySelector('header.top').getBoundingClientRect().bottom")
    assert header - 1 <= top < header + 120  # just below the sticky header, not hidden under it
    page.close()
    page, _log, _ = open_report(browser, report, hash_="#pair-red-green")
    box = page.evaluate("document.getElementById('pair-red-green').getBoundingClientRect().top")
    assert 40 <= box < 200
    assert page.locator("#pair-red-green figure.thumb.err").count() == 3
    page.close()


def test_clicking_a_column_header_sorts_the_class_table(browser, report: Path) -> None:
    """The per-class table sorts by recall when its header is clicked (twice: descending)."""
    page, log, _ = open_report(browser, report)
    header = page.locator("#classes th", has_text="recall")
    header.click()
    header.click()
    first = page.locator("#classes tbody tr").first.locator("td").first.inner_text()
    assert first == "green"  # the only class with recall 1.0
    assert log.console_errors == []
    page.close()


def test_csp_blocks_a_script_that_is_not_the_reports_own(browser, report: Path, tmp_path: Path) -> None:
    """An extra inline script (as if injected) is refused by the page's Content-Security-Policy."""
    html = report.read_text(encoding="utf-8").replace("</main>", "<script>window.injected = 1</script></main>")
    tampered = tmp_path / "tampered.html"
    tampered.write_text(html, encoding="utf-8")
    page, log, _ = open_report(browser, tampered)
    assert page.evaluate("window.injected === undefined")
    assert any("Content Security Policy" in e for e in log.console_errors)
    page.close()
