"""The embedding chart in a real browser: renders offline from file://, and the legend isolates a class.

Needs playwright and a Chromium (``/usr/bin/chromium`` or ``CONFUSION_REPORT_CHROMIUM``). Skipped with a
message when either is missing, unless ``CONFUSION_REPORT_REQUIRE_BROWSER=1`` makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from confusion_report import build

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# The strictest policy under which the chart works: Vega compiles expressions with Function().
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'none'"
)

# Every symbol item of the point mark (not the legend) with its class and drawn opacity.
POINTS_JS = """
() => {
  const view = window.confusionReportCharts["chart-embedding"];
  const out = [];
  (function walk(node) {
    if (!node) return;
    if (node.marktype === "symbol" && node.role === "mark") {
      node.items.forEach((it) => out.push([it.datum.group, it.opacity]));
      return;
    }
    (node.items || []).forEach(walk);
  })(view.scenegraph().root);
  return out;
}
"""


def _chromium() -> str:
    path = os.environ.get("CONFUSION_REPORT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    required = os.environ.get("CONFUSION_REPORT_REQUIRE_BROWSER") == "1"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("playwright is not installed but CONFUSION_REPORT_REQUIRE_BROWSER=1")
        pytest.skip("playwright is not installed: the browser test of the chart is skipped")
    if not Path(path).exists():
        if required:
            pytest.fail(f"no Chromium at {path} but CONFUSION_REPORT_REQUIRE_BROWSER=1")
        pytest.skip(f"no Chromium at {path} (set CONFUSION_REPORT_CHROMIUM): the browser test of the chart is skipped")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory, colour_folder_module) -> Path:
    """A report over the colour folder, plus a copy of it under a strict Content-Security-Policy."""
    from builders import ColourNet

    out = tmp_path_factory.mktemp("browser") / "report.html"
    build(ColourNet().eval(), colour_folder_module, out=out, preset="none", workers=0, progress=False)
    html = out.read_text(encoding="utf-8")
    csp = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    out.with_name("report-csp.html").write_text(
        html.replace('<meta charset="utf-8">', '<meta charset="utf-8">' + csp, 1)
    )
    return out


@pytest.fixture(scope="module")
def colour_folder_module(tmp_path_factory) -> Path:
    from builders import make_colour_folder

    return make_colour_folder(tmp_path_factory.mktemp("data"), confusions={("red", "green"): 3, ("blue", "red"): 2})


def _open(pw, chromium: str, page_path: Path):
    browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"request {r.url}"))
    page.goto(page_path.as_uri())
    page.wait_for_selector("#chart-embedding[data-rendered=true]", timeout=30_000)
    return browser, page, problems


def test_chart_renders_offline_and_legend_click_isolates_a_class(report: Path) -> None:
    """From file:// with no network the chart draws, logs nothing, and clicking 'red' in the legend fades the rest."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page, problems = _open(pw, chromium, report)
        try:
            assert page.locator("#chart-embedding svg, #chart-embedding canvas").count() >= 1
            before = page.evaluate(POINTS_JS)
            assert len(before) == 41 and all(opacity > 0.1 for _, opacity in before)
            page.locator("#chart-embedding .role-legend-label text", has_text="red").first.click()
            page.wait_for_timeout(300)
            after = page.evaluate(POINTS_JS)
            shown = {group for group, opacity in after if opacity > 0.1}
            faded = {group for group, opacity in after if opacity <= 0.1}
            assert shown == {"red"} and faded == {"green", "blue"}
            assert problems == []
        finally:
            browser.close()


def test_chart_renders_under_a_strict_content_security_policy(report: Path) -> None:
    """With default-src 'none' and script-src 'unsafe-inline' 'unsafe-eval' the chart still draws, error-free."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page, problems = _open(pw, chromium, report.with_name("report-csp.html"))
        try:
            assert page.locator("#chart-embedding svg, #chart-embedding canvas").count() >= 1
            assert problems == []
        finally:
            browser.close()
