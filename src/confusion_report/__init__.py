"""confusion-report: one self-contained HTML report that shows and explains what an image classifier confuses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .results import ReportData


def build(model: Any, data: Any, **options: Any) -> ReportData:
    """Build a report; see :func:`confusion_report.api.build` (imported lazily: torch is heavy)."""
    from .api import build as _build

    return _build(model, data, **options)


__all__ = ["__version__", "build"]
