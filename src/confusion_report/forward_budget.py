"""``--explain-budget``: one allowance of extra forwards for the whole build, shared by what spends it.

Everything after the pass that runs the model again spends from one total, ``share`` x the pass's images:
the gallery overlays (CAMs of typical images, activation views, occlusion) may take half of it; for models
without hooks, the attention estimate by occlusion a quarter; the interventions that test findings get what
those left. Each has a floor so that a small folder still gets its explanations: a few hundred forwards
cost little beside any pass. With the default share of 10%, the report's extra forwards stay within 10% of
the pass on large folders (measured before: 10% for the overlays and 10% for the interventions, each on
its own, which alone made a 10,000-image CIFAR report 20% slower than its pass).
"""

from __future__ import annotations

import math

DEFAULT_SHARE = 0.10  # --explain-budget's default
OVERLAY_SHARE = 0.5
ATTENTION_SHARE = 0.25
OVERLAY_FLOOR = 100
INTERVENTION_FLOOR = 256


def total_forwards(n_pass: int, share: float) -> int:
    """The whole allowance: ``share`` of the pass's images (0 when the share is 0)."""
    return math.floor(max(share, 0.0) * n_pass)


def overlay_forwards(n_pass: int, share: float) -> int:
    """What the gallery overlays may spend: half of the allowance, at least :data:`OVERLAY_FLOOR`."""
    return max(OVERLAY_FLOOR, math.floor(OVERLAY_SHARE * total_forwards(n_pass, share)))


def attention_share(share: float) -> float:
    """The share of the pass's images the occlusion attention estimate (no hooks) may spend."""
    return ATTENTION_SHARE * share


def intervention_forwards(n_pass: int, share: float, *, spent: int) -> int:
    """What the interventions may spend: the allowance less what was ``spent`` before them, at least
    :data:`INTERVENTION_FLOOR`; 0 (off) when the share is 0."""
    if share <= 0:
        return 0
    return max(INTERVENTION_FLOOR, total_forwards(n_pass, share) - spent)
