"""near_duplicates: near-identical images that carry different labels (or sit in different splits)."""

from __future__ import annotations

from ..results import Finding
from .inputs import FindingInputs
from .text import and_join


def rule(inp: FindingInputs) -> Finding | None:
    """Fires on any group of near-duplicates with conflicting labels or spread over splits."""
    conflicting = [g for g in inp.duplicates if len(set(g.labels)) > 1]
    cross = [g for g in inp.duplicates if len(set(g.splits)) > 1]
    hits = conflicting or cross
    if not hits:
        return None
    n_images = sum(len(g.paths) for g in hits)
    checked = all(g.pixel_checked for g in hits)
    how = "near-identical in the model's feature space" + (" and in their pixels" if checked else "")
    first = hits[0]
    labels = and_join([f"{p} ({lab})" for p, lab in zip(first.paths[:3], first.labels[:3], strict=True)])
    if conflicting:
        title = f"{len(conflicting)} near-duplicate groups with conflicting labels"
        text = (
            f"{len(conflicting)} groups ({n_images} images) are {how} but carry different labels, e.g. {labels}. "
            "At least one label in each group is probably wrong, or the same image is filed twice."
        )
    else:
        title = f"{len(cross)} near-duplicate groups across splits"
        text = f"{len(cross)} groups ({n_images} images) are {how} and appear in more than one split, e.g. {labels}."
    classes = tuple(dict.fromkeys(lab for g in hits for lab in g.labels))[:6]
    return Finding(
        kind="near_duplicates",
        severity="high" if conflicting else "medium",
        title=title,
        text=text,
        classes=classes,
        evidence={
            "groups": len(hits),
            "images": n_images,
            "pixel_checked": checked,
            "group_list": [{"paths": list(g.paths), "labels": list(g.labels)} for g in hits[:20]],
            "section": "label-issues",
            "strength": float(min(50.0, n_images)),
        },
        examples=tuple(p for g in hits[:6] for p in g.paths),
    )
