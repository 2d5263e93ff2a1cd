"""Interactive charts: Altair specs built in Python, drawn offline by the Vega bundle inlined once per report.

Every chart is a ``<div id=...>`` plus a ``<script type="application/json" data-vega-target=...>`` holding
its spec; one small script at the end of the page calls ``vegaEmbed('#id', spec, {actions: false})``
for each. The JavaScript (Vega, Vega-Lite, vega-embed) comes from vl-convert-python, so the report
never reaches a CDN. Vega compiles expressions with ``Function()``: under a Content-Security-Policy
the page needs ``script-src 'unsafe-inline' 'unsafe-eval'`` (plus ``style-src 'unsafe-inline'`` for
vega-embed's styles and ``img-src data:`` for tooltip thumbnails). No torch here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from ..results import Projection
from .user_cache import cache_dir

EMBEDDING_CHART_ID = "chart-embedding"
# Above this many points the chart draws on a canvas: SVG with tens of thousands of nodes is sluggish.
CANVAS_FROM = 3000
OTHER = "other classes"
MAX_COLOURED_CLASSES = 20
# Tableau 20 reordered so that the first ten are the strong colours (distinct for up to ten classes).
PALETTE = (
    "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#79706e",
    "#9ecae9", "#ffbf79", "#ff9d98", "#88d27a", "#83bcb6", "#fabfd2", "#d6a5c9", "#bab0ac", "#439894", "#d67195",
)  # fmt: skip
OTHER_COLOUR = "#b8bec8"


def emphasised_classes(
    focus: Sequence[str], pair_classes: Sequence[tuple[str, str]], *, top: int = 3
) -> tuple[str, ...]:
    """Classes the chart draws boldly: the focus classes if any, else those of the ``top`` most confused pairs."""
    if focus:
        return tuple(dict.fromkeys(focus))
    out: list[str] = []
    for a, b in pair_classes[:top]:
        out.extend((a, b))
    return tuple(dict.fromkeys(out))


def embedding_chart_spec(
    projection: Projection,
    media: Mapping[str, str],
    *,
    emphasised: Sequence[str] = (),
    width: int = 760,
    height: int = 520,
) -> dict[str, Any]:
    """Vega-Lite spec of the 2-D embedding: one point per image, every point kept (no 5,000-row cap).

    Colour: true class (beyond 20 classes only the emphasised ones get a colour); shape: correct or
    error; emphasised classes are larger and more opaque. Click a legend entry to isolate a class
    (shift-click adds more), drag to pan, scroll to zoom, double-click to reset. Tooltips show the
    thumbnail when ``media`` holds one for the path.
    """
    import altair as alt

    names = projection.names
    present = [names[c] for c in np.unique(projection.labels)]
    emph = set(emphasised)
    coloured = present if len(present) <= MAX_COLOURED_CLASSES else [c for c in present if c in emph]
    coloured_set = set(coloured)
    groups = list(coloured) + ([OTHER] if len(coloured) < len(present) else [])
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(coloured))] + ([OTHER_COLOUR] if OTHER in groups else [])

    rows = []
    for i, path in enumerate(projection.paths):
        true = names[projection.labels[i]]
        pred = names[projection.preds[i]]
        error = true != pred
        bold = not emph or true in emph
        row = {
            "x": round(float(projection.x[i]), 4),
            "y": round(float(projection.y[i]), 4),
            "path": path,
            "true": true,
            "pred": pred,
            "conf": round(float(projection.confidence[i]), 4),
            "kind": "error" if error else "correct",
            "group": true if true in coloured_set else OTHER,
            "alpha": (0.95 if error else 0.7) if bold else 0.22,
            "size": (60 if error else 28) if bold else 14,
            "z": (2 if error else 1) if bold else 0,
        }
        if path in media:
            row["image"] = media[path]
        rows.append(row)

    legend_pick = alt.selection_point(name="pick", fields=["group"], bind="legend")
    zoom = alt.selection_interval(name="zoom", bind="scales")
    tooltip = [
        alt.Tooltip("image:N", title="image"),
        alt.Tooltip("path:N", title="path"),
        alt.Tooltip("true:N", title="true"),
        alt.Tooltip("pred:N", title="predicted"),
        alt.Tooltip("conf:Q", title="confidence", format=".1%"),
    ]
    chart = (
        alt.Chart(alt.NamedData(name="points"), width=width, height=height)
        .mark_point(filled=True, strokeWidth=0)
        .encode(
            x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False, nice=False)),
            y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False, nice=False)),
            color=alt.Color(
                "group:N",
                scale=alt.Scale(domain=groups, range=colours),
                legend=alt.Legend(
                    title="true class (click to isolate)",
                    symbolLimit=0,
                    labelLimit=180,
                    symbolType="circle",
                    symbolOpacity=1,
                    symbolSize=90,
                ),
            ),
            shape=alt.Shape(
                "kind:N",
                scale=alt.Scale(domain=["correct", "error"], range=["circle", "cross"]),
                legend=alt.Legend(title="prediction", symbolOpacity=1, symbolSize=90, symbolFillColor=OTHER_COLOUR),
            ),
            size=alt.Size("size:Q", scale=None, legend=None),
            opacity=alt.when(legend_pick)
            .then(alt.Opacity("alpha:Q", scale=None, legend=None))
            .otherwise(alt.value(0.03)),
            order=alt.Order("z:Q"),
            tooltip=tooltip,
        )
        .add_params(legend_pick, zoom)
        .configure_view(stroke=None)
    )
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    # Rows go into the top-level datasets after validation: schema-checking 20k rows is slow and adds nothing.
    spec["datasets"] = {"points": rows}
    return spec


def chart_json(spec: Mapping[str, Any]) -> Markup:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(spec, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


@cache
def vega_bundle() -> Markup:
    """Vega + Vega-Lite + vega-embed as one classic script (from vl-convert-python, ~0.9 MB).

    Wrapped in a function so the bundle's top-level names cannot clash with other scripts on the page;
    it publishes ``window.vegaEmbed``, ``window.vega`` and ``window.vegaLite``. vl-convert builds the bundle
    in 1.6 s on every call (measured), so it is kept in the user's cache folder per vl-convert version.
    """
    js = _cached_bundle()
    # "</script" would end the element early; "<\/script" means the same inside JS strings and regexes.
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    return Markup("(function () {\n" + js + "\n})();")


def bundle_cache_path() -> Path | None:
    """Where the bundle of the installed vl-convert is kept (:mod:`.user_cache`); None without a home."""
    from importlib.metadata import version

    root = cache_dir()
    return None if root is None else root / f"vega-bundle-{version('vl-convert-python')}.js"


def _cached_bundle() -> str:
    import vl_convert

    path = bundle_cache_path()
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            pass  # not cached yet: build it
    js = vl_convert.javascript_bundle()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(js, encoding="utf-8")
            os.replace(tmp, path)  # atomic: a concurrent build reads the old file or the whole new one
        except OSError:
            pass  # a read-only cache folder only costs the 1.6 s again next time
    return js


@dataclass(frozen=True)
class ChartEmbed:
    """One chart as the page embeds it: its spec as script-safe JSON and the Vega renderer to use."""

    spec: Markup
    renderer: str


def renderer_for(n_points: int) -> str:
    """``canvas`` for many points, ``svg`` otherwise."""
    return "canvas" if n_points >= CANVAS_FROM else "svg"


def charts_for(data: Any) -> dict[str, ChartEmbed]:
    """The charts of a report, by container id (empty when the report has no chart)."""
    charts: dict[str, ChartEmbed] = {}
    projection = getattr(data, "projection", None)
    if projection is not None and len(projection):
        emph = emphasised_classes(data.focus_classes, [(p.true, p.pred) for p in data.pairs])
        spec = embedding_chart_spec(projection, data.media, emphasised=emph)
        charts[EMBEDDING_CHART_ID] = ChartEmbed(chart_json(spec), renderer_for(len(projection)))
    return charts
