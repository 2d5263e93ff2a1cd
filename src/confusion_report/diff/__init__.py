"""Compare two runs on the same images: ``confusion-report diff BASE NEW`` and ``confusion_report.diff``.

``load`` reads a results JSON or a report; ``compare`` pairs the images and computes the deltas (pure
numpy); ``gates`` turns thresholds into pass/fail; ``markdown`` writes the PR comment; ``render`` the
self-contained HTML page; ``api`` ties them into one :class:`~confusion_report.diff.api.DiffResult`.
"""

from __future__ import annotations

from .api import DiffResult, diff

__all__ = ["DiffResult", "diff"]
