"""How much of each list the report shows. The media stage makes thumbnails for exactly these images and
the templates cut their lists at the same numbers (they receive them as ``limits``); the JSON keeps more."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DisplayLimits:
    """Rows, groups and example images shown per list."""

    pairs_table: int = 25
    suspects: int = 24
    slices: int = 20
    duplicate_groups: int = 30
    finding_examples: int = 8
    finding_groups: int = 5
    overlap_classes: int = 15
    # Mean attention maps per class: the classes of the ranked pairs first. At 1,000 classes drawing all of
    # them cost 1.8 s and a megabyte for a strip nobody scrolls through; every map stays in the JSON.
    attention_classes: int = 60


LIMITS = DisplayLimits()
