"""The confusion delta (NEW - BASE) as inline SVG: red where the model got worse, blue where better.

Worse means more images in an off-diagonal cell or fewer on the diagonal; only changed cells are drawn.
"""

from __future__ import annotations

import numpy as np
from markupsafe import Markup, escape

from ..render.heatmap import luminance, svg_frame_and_labels
from .results import ConfusionDelta


def _color(badness: float) -> str:
    """-1 (much better) .. 0 .. +1 (much worse) on a diverging blue-white-red scale."""
    import matplotlib

    r, g, b, _ = matplotlib.colormaps["RdBu_r"](0.5 + 0.45 * min(max(badness, -1.0), 1.0))
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def delta_heatmap_svg(confusion: ConfusionDelta, *, title: str) -> Markup:
    """Draw NEW - BASE counts; each cell's tooltip gives both counts."""
    base, new = np.asarray(confusion.base, dtype=np.int64), np.asarray(confusion.new, dtype=np.int64)
    names = [confusion.classes[i] for i in confusion.order]
    n = len(names)
    if n == 0:
        return Markup("")
    delta = new - base
    badness = delta.astype(np.float64)
    np.fill_diagonal(badness, -np.diag(badness))  # fewer right answers on the diagonal is worse
    scale = float(np.abs(badness).max()) or 1.0
    cell = 36 if n <= 12 else 26 if n <= 20 else 16 if n <= 40 else 9
    font = 12 if n <= 20 else 9 if n <= 40 else 6
    label_w = min(max(len(s) for s in names) * font * 0.62 + 8, 180)
    left, top = label_w + 18, label_w + 24
    out = svg_frame_and_labels(names, title=title, css_class="heatmap delta", cell=cell, font=font, left=left, top=top)
    for r, i in enumerate(confusion.order):
        for c, j in enumerate(confusion.order):
            if delta[i, j] == 0:
                continue
            # Square-root scale: one large change must not wash out the moderate ones beside it.
            color = _color(float(np.sign(badness[i, j]) * np.sqrt(abs(badness[i, j]) / scale)))
            tip = (
                f"true {confusion.classes[i]} → predicted {confusion.classes[j]}: "
                f"{base[i, j]} → {new[i, j]} ({delta[i, j]:+d})"
            )
            rect = (
                f'<rect x="{left + c * cell}" y="{top + r * cell}" width="{cell}" height="{cell}" '
                f'fill="{color}" class="hm-cell" data-delta="{delta[i, j]}"><title>{escape(tip)}</title></rect>'
            )
            if n <= 20:
                light = luminance(color) < 0.45
                rect += (
                    f'<text x="{left + c * cell + cell / 2:.1f}" y="{top + r * cell + cell / 2 + 4:.1f}" '
                    f'class="hm-count{" light" if light else ""}" font-size="{font - 1}" '
                    f'text-anchor="middle">{delta[i, j]:+d}</text>'
                )
            out.append(rect)
    out.append("</svg>")
    return Markup("".join(out))
