"""The depth-of-separation chart as inline SVG: probe accuracy per stage, one line per pair."""

from __future__ import annotations

from markupsafe import Markup, escape

from ..results import Separation

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def separation_svg(sep: Separation, *, width: int = 560, height: int = 280, only: str | None = None) -> Markup:
    """Lines of cross-validated accuracy (y, from chance 0.5 to 1) over stages (x); ``only`` keeps one pair."""
    pairs = [p for p in sep.pairs if only is None or p.anchor == only]
    stages = list(sep.stages)
    if not pairs or not stages:
        return Markup("")
    left, right, top, bottom = 44, 150 if only is None else 36, 14, 40
    pw, ph = width - left - right, height - top - bottom
    lo = min(0.5, *(s.accuracy for p in pairs for s in p.stages))
    lo = max(0.0, (int(lo * 10) / 10))

    def x(k: int) -> float:
        return left + (pw * k / (len(stages) - 1) if len(stages) > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph * (1 - (v - lo) / (1 - lo or 1))

    title = "Depth of separation: probe accuracy per stage" + (f" ({pairs[0].true} vs {pairs[0].pred})" if only else "")
    out = [
        f'<svg class="separation" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    ticks = [lo + k * (1 - lo) / 5 for k in range(6)]
    for t in ticks:
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="sep-grid"/>'
            f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end" class="sep-tick">{t:.1f}</text>'
        )
    if lo < 0.5:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(0.5):.1f}" y2="{y(0.5):.1f}" class="sep-chance"/>')
    out.append(f'<text x="{left + 4}" y="{y(0.5) - 4:.1f}" class="sep-tick">chance</text>')
    for k, name in enumerate(stages):
        short = name if len(name) <= 14 else "…" + name[-13:]
        out.append(
            f'<text x="{x(k):.1f}" y="{top + ph + 16}" text-anchor="middle" class="sep-tick">{escape(short)}'
            f"<title>{escape(name)}</title></text>"
        )
    out.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 6}" text-anchor="middle" class="sep-axis">stage (input → output)'
        "</text>"
    )
    for n, p in enumerate(pairs):
        colour = PALETTE[n % len(PALETTE)]
        by_stage = {s.stage: s for s in p.stages}
        pts = [(x(k), y(by_stage[s].accuracy), by_stage[s]) for k, s in enumerate(stages) if s in by_stage]
        path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py, _) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, s in pts:
            tip = f"{p.true} vs {p.pred} at {s.stage}: {s.accuracy:.1%} ± {s.std:.1%} ({s.dim} channels)"
            out.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"><title>{escape(tip)}</title></circle>'
            )
        if only is None:
            ly = top + 14 * n + 6
            label = f"{p.true} vs {p.pred}"
            short = label if len(label) <= 24 else label[:23] + "…"  # names come from the data: keep inside
            out.append(
                f'<line x1="{width - right + 8}" x2="{width - right + 24}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                f'stroke-width="2"/><text x="{width - right + 28}" y="{ly + 4}" class="sep-tick">'
                f"{escape(short)}<title>{escape(label)}</title></text>"
            )
    out.append("</svg>")
    return Markup("".join(out))
