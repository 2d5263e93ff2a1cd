"""The confusion section for many classes: one raster overview with hover, and readable sub-matrices.

Above :data:`OVERVIEW_ABOVE` classes an SVG with one element per cell is megabytes and its labels
cannot be read. The overview draws the whole clustered matrix as one PNG (one pixel, or a few, per
cell) and ships the non-zero cells in a compact JSON block that a small script (overview.js) reads
to name the cell under the pointer. Beside it, sub-matrices small enough to label, each an ordinary
SVG heatmap: the classes of the top pairs, then each confusion cluster.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup

from ..display import LIMITS
from ..results import Confusion, Pair, ReportData
from ..results.confusion_json import SPARSE_ABOVE
from .heatmap import heatmap_svg

# Above this many classes the section shows the overview (the JSON turns sparse at the same size).
OVERVIEW_ABOVE = SPARSE_ABOVE
# A sub-matrix keeps at most this many classes: cells stay 16 px or more, labels readable.
SUBMATRIX_CLASSES = 20
# How many clusters get a sub-matrix of their own (the table lists them all).
CLUSTER_VIEWS = 8
# Pairs table rows when there are many classes (the sub-matrices link into them).
MANY_CLASS_PAIR_ROWS = 100


@dataclass(frozen=True)
class SubMatrix:
    """One readable sub-matrix and the pairs it shows, each with its link target (or None)."""

    key: str
    title: str
    caption: str
    svg: Markup
    pairs: tuple[tuple[Pair, str | None], ...]


@dataclass(frozen=True)
class Overview:
    """The raster overview, its hover data and the sub-matrices beside it."""

    image: str
    n: int
    hover: dict
    blocks: tuple[tuple[int, int, str], ...]
    submatrices: tuple[SubMatrix, ...]


def pair_rows(n_classes: int) -> int:
    """How many pairs the table lists."""
    return MANY_CLASS_PAIR_ROWS if n_classes > OVERVIEW_ABOVE else LIMITS.pairs_table


def pair_links(data: ReportData) -> dict[tuple[str, str], str]:
    """Where a pair can be linked: its gallery when it has one, else its row in the pairs table."""
    links = {(p.true, p.pred): f"row-{p.anchor}" for p in data.pairs[: pair_rows(len(data.confusion.classes))]}
    links.update({(g.true, g.pred): g.anchor for g in data.galleries})
    return links


def display_order(data: ReportData) -> tuple[int, ...]:
    """The matrix order: by group when --class-groups was given, else the clustered order."""
    return data.class_groups.order if data.class_groups is not None else data.confusion.order


def group_blocks(data: ReportData) -> tuple[tuple[int, int, str], ...]:
    """(start, size, group) of each group along the display order."""
    if data.class_groups is None:
        return ()
    blocks, start = [], 0
    for g in data.class_groups.groups:
        blocks.append((start, len(g.classes), g.name))
        start += len(g.classes)
    return tuple(blocks)


def _colours(counts: np.ndarray) -> np.ndarray:
    """RGB per cell: errors in orange by the square root of their share of the row (scaled to the
    largest error rate, so that one-off errors still show), the diagonal in grey, zeros background."""
    import matplotlib

    support = counts.sum(axis=1, keepdims=True).astype(np.float64)
    rates = np.divide(counts, support, out=np.zeros(counts.shape), where=support > 0)
    diag = np.diag(rates).copy()
    np.fill_diagonal(rates, 0.0)
    scale = rates.max() or 1.0
    rgb = np.empty((*counts.shape, 3), dtype=np.uint8)
    rgb[:] = (243, 245, 248)
    errors = np.sqrt(rates / scale)
    lut = (matplotlib.colormaps["Oranges"](np.linspace(0.45, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    nz = counts > 0
    np.fill_diagonal(nz, False)
    rgb[nz] = lut[np.minimum((errors[nz] * 255).astype(int), 255)]
    grey = (200 - 120 * diag).round().astype(np.uint8)  # darker = more of the class right
    k = np.arange(len(counts))
    rgb[k, k] = np.stack([grey, grey, grey], axis=1)
    rgb[k[diag == 0], k[diag == 0]] = (243, 245, 248)
    return rgb


def overview_png(counts: np.ndarray, order: Sequence[int]) -> str:
    """The matrix in display order as a PNG data URI, a few pixels per cell when classes are few."""
    from PIL import Image

    shown = counts[np.ix_(order, order)]
    rgb = _colours(shown)
    scale = max(1, 600 // len(order))
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def hover_data(confusion: Confusion, order: Sequence[int], links: dict[tuple[str, str], str]) -> dict:
    """What overview.js needs: names and supports in display order, and the non-zero cells as one flat
    list ``[row, col, count, ...]`` in display positions; ``links`` maps ``"row,col"`` to an anchor."""
    counts = np.asarray(confusion.counts, dtype=np.int64)[np.ix_(order, order)]
    rows, cols = np.nonzero(counts)
    names = [confusion.classes[i] for i in order]
    where = {name: k for k, name in enumerate(names)}
    return {
        "classes": names,
        "support": counts.sum(axis=1).tolist(),
        "cells": np.stack([rows, cols, counts[rows, cols]], axis=1).ravel().tolist(),
        "links": {f"{where[t]},{where[p]}": href for (t, p), href in links.items() if t in where and p in where},
    }


def _submatrix(
    confusion: Confusion,
    members: Sequence[str],
    data: ReportData,
    links: dict[tuple[str, str], str],
    *,
    key: str,
    title: str,
    caption: str,
) -> SubMatrix:
    """An errors-only SVG over ``members``; rates stay shares of each whole class."""
    from ..analyses.confusion import cluster_order

    index = {c: k for k, c in enumerate(confusion.classes)}
    idx = [index[c] for c in members]
    full = np.asarray(confusion.counts, dtype=np.int64)
    sub = full[np.ix_(idx, idx)]
    sub_conf = Confusion(
        classes=tuple(members),
        counts=tuple(tuple(int(v) for v in row) for row in sub),
        order=tuple(int(i) for i in cluster_order(sub)),
    )
    svg = heatmap_svg(
        sub_conf,
        data.pairs,
        off_diagonal=True,
        title=title,
        row_totals=full[idx].sum(axis=1).tolist(),
        hrefs=links,
    )
    inside = set(members)
    shown = tuple((p, links.get((p.true, p.pred))) for p in data.pairs if p.true in inside and p.pred in inside)
    return SubMatrix(key=key, title=title, caption=caption, svg=svg, pairs=shown[:12])


def top_pair_classes(pairs: Sequence[Pair], *, limit: int = SUBMATRIX_CLASSES) -> tuple[str, ...]:
    """The classes of the top pairs, in rank order, until ``limit`` classes."""
    out: dict[str, None] = {}
    for p in pairs:
        new = [c for c in (p.true, p.pred) if c not in out]
        if len(out) + len(new) > limit:
            break
        out.update(dict.fromkeys(new))
    return tuple(out)


def overview_for(data: ReportData) -> Overview | None:
    """The many-class view of the confusion section, or None at or below :data:`OVERVIEW_ABOVE` classes."""
    confusion = data.confusion
    if len(confusion.classes) <= OVERVIEW_ABOVE:
        return None
    order = display_order(data)
    links = pair_links(data)
    counts = np.asarray(confusion.counts, dtype=np.int64)
    subs = []
    top = top_pair_classes(data.pairs)
    if len(top) >= 2:
        n_pairs = sum(1 for p in data.pairs if p.true in top and p.pred in top)
        subs.append(
            _submatrix(
                confusion,
                top,
                data,
                links,
                key="top",
                title="Classes of the top pairs",
                caption=f"The {len(top)} classes of the most confused pairs ({n_pairs} pairs among them).",
            )
        )
    for k, cluster in enumerate(data.clusters[:CLUSTER_VIEWS], start=1):
        members = cluster.classes[:SUBMATRIX_CLASSES]
        more = len(cluster.classes) - len(members)
        subs.append(
            _submatrix(
                confusion,
                members,
                data,
                links,
                key=f"cluster-{k}",
                title=f"Cluster {k}",
                caption=f"{len(cluster.classes)} classes, {cluster.errors} errors among them "
                f"({100 * cluster.error_share:.1f}% of all errors)"
                + (f"; the {more} least involved classes are left out." if more else "."),
            )
        )
    return Overview(
        image=overview_png(counts, order),
        n=len(order),
        hover=hover_data(confusion, order, links),
        blocks=group_blocks(data),
        submatrices=tuple(subs),
    )
