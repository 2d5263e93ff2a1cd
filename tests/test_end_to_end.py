"""End to end through the Python API on a model whose errors are known by construction."""

from __future__ import annotations

import json
import re
from pathlib import Path

from confusion_report import build


def test_api_build_finds_the_planted_confusions(colour_net, colour_folder: Path, tmp_path: Path) -> None:
    """3 red->green and 2 blue->red errors come out as the two top pairs, in that order."""
    out = tmp_path / "report.html"
    result = build(colour_net, colour_folder, out=out, preset="none", workers=0, progress=False)
    assert [(p.true, p.pred, p.count) for p in result.pairs] == [("red", "green", 3), ("blue", "red", 2)]
    assert result.metrics.n_errors == 5
    html = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])
    assert data["pairs"][0]["true"] == "red" and data["pairs"][0]["pred"] == "green"
