"""The Vega bundle and the compiled templates are made once and read from the user's cache folder after."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import ColourNet
from confusion_report.render import charts


@pytest.fixture
def fresh_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An empty cache folder and no in-process copy of the bundle."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    charts.vega_bundle.cache_clear()
    yield tmp_path
    charts.vega_bundle.cache_clear()


def test_the_bundle_is_written_once_and_read_back_without_vl_convert(fresh_bundle: Path, monkeypatch) -> None:
    """First call builds and stores it; the next process (cache cleared) reads the same text from the file."""
    import vl_convert

    first = charts.vega_bundle()
    path = charts.bundle_cache_path()
    assert path.parent.parent == fresh_bundle and path.is_file() and "vegaEmbed" in str(first)

    def refuse() -> str:
        raise AssertionError("vl-convert must not run when the bundle is cached")

    monkeypatch.setattr(vl_convert, "javascript_bundle", refuse)
    charts.vega_bundle.cache_clear()
    assert charts.vega_bundle() == first


def test_an_unwritable_cache_folder_still_gives_the_bundle(fresh_bundle: Path) -> None:
    """A cache location that cannot be created (a file stands in its way) costs time, never the report."""
    (fresh_bundle / "confusion-report").write_text("not a folder")
    assert "vegaEmbed" in str(charts.vega_bundle())


def test_compiled_templates_are_kept_and_a_report_renders_from_them(fresh_bundle: Path, colour_folder: Path) -> None:
    """A fresh environment stores compiled templates; the next one renders the same page from them."""
    from confusion_report import build
    from confusion_report.render import html

    html.environment.cache_clear()
    try:
        result = build(ColourNet().eval(), colour_folder, out=None, workers=0, progress=False, preset="none")
        first = html.render_html(result)
        stored = list((fresh_bundle / "confusion-report").glob("__jinja2_*.cache"))
        assert len(stored) >= 10
        html.environment.cache_clear()
        assert html.render_html(result) == first
    finally:
        html.environment.cache_clear()
