"""Frozen results of ``--class-groups``: confusion within vs across user-given groups of classes.

``ReportData.class_groups`` holds it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSummary:
    """One group: its classes, images and where their errors go."""

    name: str
    classes: tuple[str, ...]
    images: int
    errors: int
    within: int  # errors predicted as another class of the same group
    across: int  # errors predicted as a class of another group
    top_other: str | None = None  # the other group that takes most of the errors across
    top_other_count: int = 0


@dataclass(frozen=True)
class ClassGroups:
    """Confusion summarised by group; ``order`` shows the matrix group by group.

    ``groups`` are in display order (first appearance in the file, classes without a group last);
    ``order`` indexes ``confusion.classes``, each group's classes contiguous and clustered inside;
    ``counts`` is the group x group confusion (rows = true group) in the same order.
    """

    source: str
    groups: tuple[GroupSummary, ...]
    within: int
    across: int
    within_share: float
    order: tuple[int, ...]
    counts: tuple[tuple[int, ...], ...]
    ungrouped: tuple[str, ...] = ()
