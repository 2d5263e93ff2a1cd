"""The confusion heatmap as inline SVG: one rect per non-zero cell, each with a tooltip and a link.

SVG keeps the page crisp at any zoom and lets tests inspect the drawn cells; empty cells are not
drawn at all, so a 100-class matrix stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

from ..results import Confusion, Pair


@dataclass(frozen=True)
class HeatmapCell:
    """One drawn cell: grid position, count, row rate and the colour it gets."""

    row: int
    col: int
    true: str
    pred: str
    count: int
    rate: float
    color: str
    href: str | None


def _color(value: float) -> str:
    import matplotlib

    r, g, b, _ = matplotlib.colormaps["Blues"](0.08 + 0.92 * min(max(value, 0.0), 1.0))
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def luminance(color: str) -> float:
    r, g, b = (int(color[k : k + 2], 16) / 255 for k in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def heatmap_cells(
    confusion: Confusion,
    pairs: tuple[Pair, ...],
    *,
    off_diagonal: bool,
    row_totals: Sequence[int] | None = None,
    hrefs: Mapping[tuple[str, str], str] | None = None,
) -> list[HeatmapCell]:
    """The non-zero cells in display order, coloured by row-normalised rate.

    With ``off_diagonal`` the diagonal is left out and colours are scaled to the largest error rate,
    so that the errors are visible even when accuracy is high. A sub-matrix of a bigger one passes
    its classes' ``row_totals`` (rates stay shares of the whole class) and may pass ``hrefs`` by
    (true, pred) instead of linking every pair's anchor.
    """
    counts = np.asarray(confusion.counts, dtype=np.int64)
    order = list(confusion.order)
    support = counts.sum(axis=1) if row_totals is None else np.asarray(row_totals, dtype=np.int64)
    rates = np.divide(counts, support[:, None], out=np.zeros(counts.shape), where=support[:, None] > 0)
    scale = 1.0
    if off_diagonal:
        off = rates.copy()
        np.fill_diagonal(off, 0)
        scale = float(off.max()) or 1.0
    anchors = {(p.true, p.pred): p.anchor for p in pairs} if hrefs is None else hrefs
    cells = []
    for r, i in enumerate(order):
        for c, j in enumerate(order):
            if counts[i, j] == 0 or (off_diagonal and i == j):
                continue
            true, pred = confusion.classes[i], confusion.classes[j]
            cells.append(
                HeatmapCell(
                    row=r,
                    col=c,
                    true=true,
                    pred=pred,
                    count=int(counts[i, j]),
                    rate=float(rates[i, j]),
                    color=_color(rates[i, j] / scale),
                    href=anchors.get((true, pred)),
                )
            )
    return cells


def heatmap_svg(
    confusion: Confusion,
    pairs: tuple[Pair, ...],
    *,
    off_diagonal: bool,
    title: str,
    row_totals: Sequence[int] | None = None,
    hrefs: Mapping[tuple[str, str], str] | None = None,
    blocks: Sequence[tuple[int, int]] = (),
) -> Markup:
    """Draw the matrix; rows are true classes, columns predicted, both in the clustered order.

    ``row_totals`` and ``hrefs`` are passed to :func:`heatmap_cells`; ``blocks`` (start, size) in
    display positions are outlined on the diagonal (the groups of ``--class-groups``).
    """
    n = len(confusion.classes)
    cell = 36 if n <= 12 else 26 if n <= 20 else 16 if n <= 40 else 9
    font = 12 if n <= 20 else 9 if n <= 40 else 6
    names = [confusion.classes[i] for i in confusion.order]
    label_w = min(max(len(s) for s in names) * font * 0.62 + 8, 180)
    left, top = label_w + 18, label_w + 24  # room for rotated column labels under the axis title
    cells = heatmap_cells(confusion, pairs, off_diagonal=off_diagonal, row_totals=row_totals, hrefs=hrefs)
    out = svg_frame_and_labels(names, title=title, css_class="heatmap", cell=cell, font=font, left=left, top=top)
    for c in cells:
        tip = f"true {c.true} → predicted {c.pred}: {c.count} ({c.rate:.1%} of {c.true})"
        rect = (
            f'<rect x="{left + c.col * cell}" y="{top + c.row * cell}" width="{cell}" height="{cell}" '
            f'fill="{c.color}" class="hm-cell"><title>{escape(tip)}</title></rect>'
        )
        if n <= 20:
            dark = luminance(c.color) < 0.45  # darker fills get light text
            rect += (
                f'<text x="{left + c.col * cell + cell / 2:.1f}" y="{top + c.row * cell + cell / 2 + 4:.1f}" '
                f'class="hm-count{" light" if dark else ""}" font-size="{font - 1}" '
                f'text-anchor="middle">{c.count}</text>'
            )
        if c.href:
            rect = f'<a href="#{escape(c.href)}">{rect}</a>'
        out.append(rect)
    for start, size_k in blocks:
        out.append(
            f'<rect x="{left + start * cell}" y="{top + start * cell}" width="{size_k * cell}" '
            f'height="{size_k * cell}" class="hm-block"/>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def svg_frame_and_labels(
    names: Sequence[str], *, title: str, css_class: str, cell: float, font: float, left: float, top: float
) -> list[str]:
    """The opening of a square heatmap SVG: frame, axis titles and each class's row and (rotated) column label.

    Shared by the report's confusion heatmap and the diff's delta heatmap; the caller adds the cells and
    closes the ``<svg>``.
    """
    n = len(names)
    size = n * cell
    width, height = left + size + 4, top + size + 4
    out = [
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" class="hm-bg"/>',
        f'<text x="{left + size / 2:.0f}" y="12" class="hm-axis" text-anchor="middle">predicted</text>',
        f'<text x="8" y="{top + size / 2:.0f}" class="hm-axis" text-anchor="middle" '
        f'transform="rotate(-90 8 {top + size / 2:.0f})">true</text>',
    ]
    for k, name in enumerate(names):
        short = name if len(name) <= 28 else name[:27] + "…"
        y = top + k * cell + cell / 2 + font / 3
        out.append(
            f'<text x="{left - 4}" y="{y:.1f}" class="hm-label" font-size="{font}" '
            f'text-anchor="end">{escape(short)}<title>{escape(name)}</title></text>'
        )
        x = left + k * cell + cell / 2 + font / 3
        out.append(
            f'<text x="{x:.1f}" y="{top - 4}" class="hm-label" font-size="{font}" '
            f'transform="rotate(-90 {x:.1f} {top - 4})">{escape(short)}<title>{escape(name)}</title></text>'
        )
    return out
