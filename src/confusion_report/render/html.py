"""The Jinja environment and the one function that turns ReportData into the HTML file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..display import LIMITS
from ..results import ReportData
from .charts import charts_for, vega_bundle
from .class_views import class_rows, group_heatmap
from .heatmap import heatmap_svg
from .heatmap_overview import display_order, group_blocks, overview_for, pair_rows
from .overlay import heat_uri
from .separation import separation_svg
from .user_cache import cache_dir


def templates_dir() -> Path:
    """Templates ship inside the wheel as ``confusion_report/templates``; a source checkout uses ``templates/``."""
    packaged = Path(str(resources.files("confusion_report"))) / "templates"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("confusion-report templates not found (broken installation?)")


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def json_script(data: dict) -> Markup:
    """JSON that is safe inside a <script> element: '<', '>' and '&' are escaped as unicode escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


CSP_PLACEHOLDER = "__CONFUSION_REPORT_CSP__"
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*application/json)[^>]*>(.*?)</script>", re.S)


def content_security_policy(html: str, *, allow_eval: bool = False) -> str:
    """A policy that forbids every fetch: only data: images, inline styles and the page's own scripts.

    Scripts are allowed by the SHA-256 of their exact text, so an injected script would not run even if
    escaping failed. ``allow_eval`` adds 'unsafe-eval' for Vega, which compiles chart expressions with
    Function(); 'none' as the default source still blocks every network request.
    """
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
            for body in _INLINE_SCRIPT.findall(html)
        }
    )
    script_src = " ".join([*hashes, *(["'unsafe-eval'"] if allow_eval else [])]) or "'none'"
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
        f"script-src {script_src}; base-uri 'none'; form-action 'none'"
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the user's cache folder: compiling all of them costs 0.5 s per process.
    Jinja keys each entry by the template's name and a checksum of its source, so an edited template is
    compiled afresh."""
    folder = cache_dir(create=True)
    return None if folder is None else jinja2.FileSystemBytecodeCache(str(folder))


@cache
def environment() -> jinja2.Environment:
    """Autoescape everywhere and StrictUndefined, so a typo in a template fails loudly in tests."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["heat_uri"] = lambda m: heat_uri(m)  # mean attention maps, drawn from the JSON numbers
    env.globals["separation_svg"] = separation_svg
    env.globals["attention_shown"] = attention_shown
    env.filters["by_anchor"] = lambda items: {i.anchor: i for i in items or ()}
    return env


def attention_shown(data: ReportData) -> list:
    """The classes whose mean attention map the report draws: all of them in class order up to
    ``LIMITS.attention_classes``; above it, those of the ranked pairs first (in pair order), then the rest."""
    classes = [c for c in data.attention.classes if c.attention] if data.attention else []
    if len(classes) <= LIMITS.attention_classes:
        return classes
    rank: dict[str, int] = {}
    for pair in data.pairs:
        for name in (pair.true, pair.pred):
            rank.setdefault(name, len(rank))
    ordered = sorted(classes, key=lambda c: rank.get(c.name, len(rank)))  # stable: class order after the pairs
    return ordered[: LIMITS.attention_classes]


def render_html(data: ReportData) -> str:
    """The whole self-contained report as one string."""
    env = environment()
    charts = charts_for(data)
    # Many classes (issue 13): a raster overview with sub-matrices replaces the SVG matrices above 50
    # classes; --class-groups orders the matrix group by group.
    overview = overview_for(data)
    shown = replace(data.confusion, order=display_order(data))
    blocks = [(start, size) for start, size, _ in group_blocks(data)]
    context = {
        "r": data,
        "media": data.media,
        "limits": LIMITS,
        "heatmap": None
        if overview
        else heatmap_svg(
            shown,
            data.pairs,
            off_diagonal=False,
            title="Confusion matrix, row-normalised (rows: true class)",
            blocks=blocks,
        ),
        "heatmap_off": None
        if overview
        else heatmap_svg(
            shown,
            data.pairs,
            off_diagonal=True,
            title="Errors only: off-diagonal confusion, row-normalised",
            blocks=blocks,
        ),
        "overview": overview,
        "overview_json": json_script(overview.hover) if overview else Markup(""),
        "overview_js": Markup((templates_dir() / "overview.js").read_text(encoding="utf-8")) if overview else "",
        "group_heatmap": group_heatmap(data.class_groups),
        "class_rows": class_rows(data.metrics.per_class),
        "pair_rows": pair_rows(len(data.confusion.classes)),
        "report_json": json_script(data.to_dict(include_media=False)),
        "css": Markup((templates_dir() / "report.css").read_text(encoding="utf-8")),
        "js": Markup((templates_dir() / "report.js").read_text(encoding="utf-8")),
        "csp": CSP_PLACEHOLDER,
        # Interactive charts: the Vega bundle is inlined once, only when a chart is present.
        "charts": charts,
        "vega_js": vega_bundle() if charts else Markup(""),
    }
    html = env.get_template("report.html.j2").render(context)
    # Vega compiles chart expressions with Function(): only a page with a chart allows eval.
    return html.replace(CSP_PLACEHOLDER, content_security_policy(html, allow_eval=bool(charts)), 1)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        # mkstemp makes the file private; a report is meant to be shared, so honour the umask instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(data: ReportData, path: Path) -> int:
    """Render and write the report; return its size in bytes."""
    html = render_html(data)
    write_atomic(path, html)
    return len(html.encode("utf-8"))
