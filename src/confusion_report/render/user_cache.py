"""The user's cache folder for what rendering can keep between runs (the Vega bundle, compiled templates).

``$XDG_CACHE_HOME/confusion-report`` (else ``~/.cache/confusion-report``). Nothing kept there is needed: a
missing or read-only folder only costs the work again, about 2 s per process.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*, create: bool = False) -> Path | None:
    """The folder (created when ``create``), or None when there is no home to put it in or it cannot be made."""
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "confusion-report"
    except (RuntimeError, KeyError):  # no home directory
        return None
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
    return root
