"""The built-in demo trains in seconds, offline, and visibly confuses at least three classes."""

from __future__ import annotations

from pathlib import Path

from confusion_report.demo import run_demo


def test_demo_report_shows_a_confusion_cluster_of_three_or_more_classes(tmp_path: Path) -> None:
    """The held-out report has real errors, grouped in a cluster of >= 3 digits, and a gallery per top pair."""
    out = tmp_path / "demo.html"
    result = run_demo(out=out, workdir=tmp_path / "work", progress=False)
    assert out.stat().st_size > 20_000
    assert 0.6 < result.metrics.accuracy < 0.97
    assert result.dataset.n_images > 800 and result.model.format == "export"
    assert any(len(c.classes) >= 3 and c.error_share >= 0.2 for c in result.clusters)
    involved = {p.true for p in result.pairs[:6]} | {p.pred for p in result.pairs[:6]}
    assert len(involved) >= 3
    assert len(result.galleries) == 6 and all(g.errors for g in result.galleries)
    assert (tmp_path / "work" / "results.json").is_file() and (tmp_path / "work" / "predictions.csv").is_file()
