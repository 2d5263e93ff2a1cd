"""Open reports in a real headless Chromium (Debian's package) through playwright.

Tests that need it take the ``page`` fixture from conftest. Without a browser they skip with a clear
message, unless CONFUSION_REPORT_REQUIRE_BROWSER=1 (set by CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The system Chromium binary, if any (playwright cannot download its own here)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """Return the binary, or skip (fail under CONFUSION_REPORT_REQUIRE_BROWSER=1) with the reason."""
    binary = find_chromium()
    reason = None
    if binary is None:
        reason = "no chromium on PATH (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install playwright)"
    if reason:
        if os.environ.get("CONFUSION_REPORT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    return binary


@dataclass
class PageLog:
    """What a page did while it was open: every request URL, console errors, dialogs, page errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def network_requests(self, page_url: str) -> list[str]:
        """Requests other than data: URIs and the report file itself."""
        return [u for u in self.requests if not u.startswith("data:") and u.split("#")[0] != page_url]


def open_report(browser, path: Path, *, hash_: str = ""):
    """Open a report from file:// with logging attached; returns (page, log, url)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = PageLog()
    page.on("request", lambda r: log.requests.append(r.url))
    page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log.page_errors.append(str(e)))

    def on_dialog(dialog) -> None:
        log.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    url = path.resolve().as_uri()
    page.goto(url + hash_, wait_until="load")
    return page, log, url


def scroll_through(page, *, timeout_s: float = 10.0) -> None:
    """Open every <details>, scroll to the bottom in steps so lazy images load, then back to the top.

    Polls with evaluate() rather than wait_for_function(), which playwright implements with eval and
    a report's Content-Security-Policy may forbid.
    """
    import time

    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    height = page.evaluate("document.body.scrollHeight")
    for y in range(0, height + 900, 700):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
    deadline = time.monotonic() + timeout_s
    while not page.evaluate("[...document.images].every(i => i.complete)"):
        if time.monotonic() > deadline:
            pending = page.evaluate("[...document.images].filter(i => !i.complete).map(i => i.alt)")
            raise AssertionError(f"images still loading after {timeout_s} s: {pending[:5]}")
        page.wait_for_timeout(100)
    page.evaluate("window.scrollTo(0, 0)")
