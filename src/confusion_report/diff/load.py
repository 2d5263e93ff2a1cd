"""Read one side of a diff: a results JSON (``build --json``) or a report's embedded JSON."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ReportError
from ..results import ReportData

_EMBEDDED = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def read_run(path: Path, *, which: str) -> ReportData:
    """The results behind ``path``; a one-line :class:`ReportError` naming ``which`` side otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{which} {path} cannot be read: {exc}") from None
    if text.lstrip()[:1] == "<":
        # A report: its results are embedded (without thumbnails; the diff falls back to the data folder).
        found = _EMBEDDED.search(text)
        if found is None:
            raise ReportError(f"{which} {path} is HTML but not a confusion report (no #report-data JSON)")
        text = found[1]
    try:
        return ReportData.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{which} {path} is not a confusion-report results file: {exc}") from None
