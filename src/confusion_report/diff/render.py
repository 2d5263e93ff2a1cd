"""The diff page: the report's Jinja environment, stylesheet, sortable tables and CSP, diff templates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from ..render.html import CSP_PLACEHOLDER, content_security_policy, environment, json_script, templates_dir
from ..serde import to_jsonable
from .api import GALLERY_LIMIT
from .heatmap import delta_heatmap_svg

if TYPE_CHECKING:
    from .api import DiffResult

# Flipped images beyond the galleries are listed by path, up to this many per direction.
LIST_LIMIT = 2000


def diff_data(d: DiffResult) -> dict:
    """What the page embeds as JSON (``#diff-data``): the comparison, the gates and both runs."""
    return {
        "title": d.title,
        "base": to_jsonable(d.base),
        "new": to_jsonable(d.new),
        "gates": to_jsonable(d.gates),
        "exit_code": d.exit_code,
        "comparison": to_jsonable(d.comparison),
    }


def render_diff_html(d: DiffResult) -> str:
    """The whole self-contained diff page as one string (no network: the report's CSP, no scripts but its own)."""
    env = environment()
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    css += (templates_dir() / "diff" / "diff.css").read_text(encoding="utf-8")
    context = {
        "d": d,
        "c": d.comparison,
        "media": d.media.media,
        "gallery_limit": GALLERY_LIMIT,
        "list_limit": LIST_LIMIT,
        "heatmap": delta_heatmap_svg(
            d.comparison.confusion, title="Confusion delta, NEW − BASE (rows: true class; red: worse, blue: better)"
        ),
        "diff_json": json_script(diff_data(d)),
        "css": Markup(css),
        "js": Markup((templates_dir() / "report.js").read_text(encoding="utf-8")),
        "csp": CSP_PLACEHOLDER,
    }
    html = env.get_template("diff/diff.html.j2").render(context)
    return html.replace(CSP_PLACEHOLDER, content_security_policy(html), 1)
