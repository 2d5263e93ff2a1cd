"""near_duplicates: near-identical images that carry different labels."""

from __future__ import annotations

from ..results import Finding
from .inputs import FindingInputs
from .text import and_join

GROUPS_IN_EVIDENCE = 20


def rule(inp: FindingInputs) -> Finding | None:
    """Fires on any group of near-duplicates (embedding and pixel hash agree) whose members carry different labels."""
    hits = [g for g in inp.duplicates if g.conflicting]
    if not hits:
        return None
    n_images = sum(len(g.members) for g in hits)
    first = hits[0]
    labels = and_join([f"{m.path} ({m.label})" for m in first.members[:3]])
    return Finding(
        kind="near_duplicates",
        severity="high",
        title=f"{len(hits)} near-duplicate groups with conflicting labels",
        text=(
            f"{len(hits)} groups ({n_images} images) are near-identical in the model's feature space and in their "
            f"pixels but carry different labels, e.g. {labels}. At least one label in each group is probably "
            "wrong, or the same image is filed twice."
        ),
        classes=tuple(dict.fromkeys(lab for g in hits for lab in g.labels))[:6],
        evidence={
            "groups": len(hits),
            "images": n_images,
            "pixel_checked": True,
            "group_list": [
                {"paths": [m.path for m in g.members], "labels": [m.label for m in g.members]}
                for g in hits[:GROUPS_IN_EVIDENCE]
            ],
            "section": "label-issues",
            "strength": float(min(50.0, n_images)),
        },
        examples=tuple(m.path for g in hits[:6] for m in g.members),
    )
