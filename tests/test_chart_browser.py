"""The embedding chart in a real browser: renders offline from file://, and the legend isolates a class.

Uses the shared ``browser`` fixture (tests/browser.py): skipped without Chromium, failed under
``CONFUSION_REPORT_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import open_report
from confusion_report import build

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


@pytest.fixture(scope="module")
def report(tmp_path_factory, colour_folder_module) -> Path:
    """A report over the colour folder (its chart is drawn with PCA below 200 points)."""
    from builders import ColourNet

    out = tmp_path_factory.mktemp("browser") / "report.html"
    build(ColourNet().eval(), colour_folder_module, out=out, preset="none", workers=0, progress=False)
    return out


@pytest.fixture(scope="module")
def colour_folder_module(tmp_path_factory) -> Path:
    from builders import make_colour_folder

    return make_colour_folder(tmp_path_factory.mktemp("data"), confusions={("red", "green"): 3, ("blue", "red"): 2})


def _open(browser, page_path: Path):
    page, log, url = open_report(browser, page_path)
    page.wait_for_selector("#chart-embedding[data-rendered=true]", timeout=30_000)
    return page, log, url


def test_chart_renders_offline_and_legend_click_isolates_a_class(browser, report: Path) -> None:
    """From file:// with no network the chart draws, logs nothing, and clicking 'red' in the legend fades the rest."""
    page, log, url = _open(browser, report)
    assert page.locator("#chart-embedding svg, #chart-embedding canvas").count() >= 1
    before = page.evaluate(POINTS_JS)
    assert len(before) == 41 and all(opacity > 0.1 for _, opacity in before)
    page.locator("#chart-embedding .role-legend-label text", has_text="red").first.click()
    page.wait_for_timeout(300)
    after = page.evaluate(POINTS_JS)
    shown = {group for group, opacity in after if opacity > 0.1}
    faded = {group for group, opacity in after if opacity <= 0.1}
    assert shown == {"red"} and faded == {"green", "blue"}
    assert log.console_errors == [] and log.page_errors == [] and log.network_requests(url) == []
    page.close()


def test_a_page_with_a_chart_allows_eval_but_still_no_fetch(browser, report: Path) -> None:
    """Vega needs 'unsafe-eval'; the policy adds it only with a chart and keeps default-src 'none'."""
    html = report.read_text(encoding="utf-8")
    policy = re.search(r'Content-Security-Policy" content="([^"]*)"', html)[1]
    assert (
        "default-src 'none'" in policy
        and "'unsafe-eval'" in policy
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )
    page, log, _ = _open(browser, report)
    assert page.locator("#chart-embedding svg, #chart-embedding canvas").count() >= 1
    assert log.console_errors == []
    page.close()
