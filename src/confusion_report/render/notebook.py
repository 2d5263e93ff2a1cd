"""Show a self-contained page inline in Jupyter: a sandboxed iframe whose ``srcdoc`` is the whole page."""

from __future__ import annotations

from markupsafe import escape

# Tall enough to read a section without scrolling the notebook, short enough to scroll past.
NOTEBOOK_HEIGHT_PX = 720

# Scripts run (sortable tables, charts) but the frame gets an opaque origin: it cannot read the notebook's
# cookies or storage, navigate the notebook, open pop-ups or submit forms. The page's own
# Content-Security-Policy still forbids every network request inside the frame.
SANDBOX = "allow-scripts"


def notebook_iframe(page: str, *, title: str, height: int = NOTEBOOK_HEIGHT_PX) -> str:
    """The HTML a notebook cell shows: ``page`` escaped into ``srcdoc`` of a sandboxed, full-width iframe."""
    return (
        f'<iframe class="confusion-report" title="{escape(title)}" sandbox="{SANDBOX}" '
        f'referrerpolicy="no-referrer" loading="eager" '
        f'style="width: 100%; height: {int(height)}px; border: 1px solid #d9dee7; border-radius: 6px;" '
        f'srcdoc="{escape(page)}"></iframe>'
    )
