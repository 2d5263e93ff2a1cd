"""``--class-groups FILE``: a CSV of class -> group (e.g. WordNet superclasses), and the confusion by group."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..results import ClassGroups, Confusion, GroupSummary
from .confusion import cluster_order

UNGROUPED = "(no group)"


def read_class_groups(path: Path, classes: Sequence[str]) -> dict[str, str]:
    """Class -> group from a two-column CSV (a header row is optional), in the file's order.

    Rows for classes that are not in the data are ignored (a file for all 1,000 ImageNet classes fits a
    subset); a file that names none of the data's classes, or gives one class two groups, is an error.
    """
    known = set(classes)
    mapping: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for k, row in enumerate(csv.reader(fh)):
            cells = [c.strip() for c in row]
            if not cells or not cells[0] or cells[0].startswith("#"):
                continue
            if len(cells) < 2 or not cells[1]:
                raise DataError(f"--class-groups {path}: line {k + 1} needs two columns, class and group")
            name, group = cells[0], cells[1]
            if name not in known:
                continue  # a header row, or a class this data does not have
            if mapping.get(name, group) != group:
                raise DataError(f"--class-groups {path}: {name} is in two groups ({mapping[name]}, {group})")
            mapping[name] = group
    if not mapping:
        raise DataError(f"--class-groups {path} names none of the data's classes (first: {', '.join(classes[:3])})")
    return mapping


def group_confusion(confusion: Confusion, mapping: dict[str, str], *, source: str = "") -> ClassGroups:
    """Errors within and across groups, the group x group matrix, and a matrix order blocked by group."""
    counts = np.asarray(confusion.counts, dtype=np.int64)
    names = list(dict.fromkeys(mapping.values()))
    ungrouped = tuple(c for c in confusion.classes if c not in mapping)
    if ungrouped:
        names.append(UNGROUPED)
    gid = {n: k for k, n in enumerate(names)}
    member = np.array([gid[mapping.get(c, UNGROUPED)] for c in confusion.classes], dtype=np.int64)
    g = len(names)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    # group x group: sum the class matrix over the members of each group (rows = true group)
    onehot = np.zeros((len(member), g), dtype=np.int64)
    onehot[np.arange(len(member)), member] = 1
    by_group = onehot.T @ off @ onehot
    images = onehot.T @ counts.sum(axis=1)
    order: list[int] = []
    summaries = []
    for k, name in enumerate(names):
        idx = np.flatnonzero(member == k)
        order += [int(idx[i]) for i in cluster_order(counts[np.ix_(idx, idx)])] if len(idx) else []
        across_row = by_group[k].copy()
        across_row[k] = 0
        top = int(across_row.argmax()) if across_row.sum() else None
        summaries.append(
            GroupSummary(
                name=name,
                classes=tuple(confusion.classes[i] for i in idx),
                images=int(images[k]),
                errors=int(by_group[k].sum()),
                within=int(by_group[k, k]),
                across=int(across_row.sum()),
                top_other=names[top] if top is not None else None,
                top_other_count=int(across_row[top]) if top is not None else 0,
            )
        )
    within = int(np.trace(by_group))
    total = int(by_group.sum())
    return ClassGroups(
        source=source,
        groups=tuple(summaries),
        within=within,
        across=total - within,
        within_share=within / total if total else 0.0,
        order=tuple(order),
        counts=tuple(tuple(int(v) for v in row) for row in by_group),
        ungrouped=ungrouped,
    )
