"""Per-class rows worst first, and the group x group matrix of ``--class-groups``."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from ..results import ClassGroups, ClassMetrics, Confusion
from .heatmap import heatmap_svg

# The per-class table pages (and gets a filter box) above this many rows.
PAGE_SIZE = 50


def class_rows(per_class: Sequence[ClassMetrics]) -> list[ClassMetrics]:
    """Worst classes first: lowest F1, then lowest recall, then by name (stable for the golden report)."""
    return sorted(per_class, key=lambda c: (c.f1, c.recall, c.name))


def group_heatmap(groups: ClassGroups | None, *, max_groups: int = 50) -> Markup | None:
    """Errors by group (rows: true group) as an SVG heatmap; None without groups or with too many."""
    if groups is None or not 2 <= len(groups.groups) <= max_groups:
        return None
    names = tuple(g.name for g in groups.groups)
    matrix = Confusion(classes=names, counts=groups.counts, order=tuple(range(len(names))))
    return heatmap_svg(
        matrix,
        (),
        off_diagonal=False,
        title="Errors by group, as a share of the true group's images (diagonal: errors within the group)",
        row_totals=[g.images for g in groups.groups],
        hrefs={},
    )
