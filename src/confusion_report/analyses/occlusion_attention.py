"""Attention evidence from occlusion, for models whose layers cannot be hooked (pure numpy).

Without in-pass CAMs (TorchScript, a static export) the ``attention_region`` rule would have nothing to
read, and a learnt cue would pass for label errors. Occluding each cell of a 3x3 grid, and the outer
ring, and measuring how much the logit of the predicted class drops gives the same shapes the rule
reads (:class:`~confusion_report.findings.inputs.PairAttentionInput`): per image the share of the
drop in each cell, and the ring's drop relative to the cells'. The forwards are in
``explain/occlusion_attention.py``; here are the regions, the sample within a budget, and the shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..findings.inputs import PairAttentionInput
from ..results import Pair
from .predictions import Predictions

N_REGIONS = 10  # the nine grid cells (order GRID_NAMES), then the outer ring
BORDER_FRACTION = 1 / 8  # the ring: the outer eighth of each side, as the CAM statistics' ring on an 8x8 map
ERRORS_PER_PAIR = 12
CORRECT_PER_PAIR = 12
MIN_ERRORS = 5  # the attention_region rule's own minimums: a smaller sample cannot fire it
MIN_CORRECT = 10
CONFIDENT = 0.05  # an error is confident when the model gives the true class at most this


def region_masks(height: int, width: int) -> np.ndarray:
    """(10, height, width) booleans: the 3x3 cells (thirds rounded to pixels) and the outer ring."""
    ys = np.round(np.linspace(0, height, 4)).astype(int)
    xs = np.round(np.linspace(0, width, 4)).astype(int)
    masks = np.zeros((N_REGIONS, height, width), dtype=bool)
    for r in range(3):
        for c in range(3):
            masks[3 * r + c, ys[r] : ys[r + 1], xs[c] : xs[c + 1]] = True
    bh = max(1, round(height * BORDER_FRACTION))
    bw = max(1, round(width * BORDER_FRACTION))
    masks[9] = True
    masks[9, bh : height - bh, bw : width - bw] = False
    return masks


def shares_from_drops(drops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image, from its (n, 10) logit drops: the 3x3 cell shares (rows sum to 1; uniform when no cell
    matters) and the ring's drop relative to the cells' total, in [0, 1].

    Only drops count (a region whose removal raises the logit is not where the model finds its class),
    as a CAM keeps only positive evidence.
    """
    d = np.clip(np.asarray(drops, dtype=np.float64), 0.0, None)
    cells = d[:, :9]
    total = cells.sum(axis=1, keepdims=True)
    shares = np.where(total > 0, cells / np.where(total > 0, total, 1.0), 1.0 / 9)
    border = np.clip(d[:, 9] / np.where(total[:, 0] > 0, total[:, 0], np.inf), 0.0, 1.0)
    return shares, border


@dataclass(frozen=True)
class PairSample:
    """The images of one directed pair that get occluded: some of its errors and correct images of both classes."""

    pair: Pair
    errors: np.ndarray  # indices into the predictions
    correct: np.ndarray


def sample_pairs(
    p: Predictions,
    pairs: tuple[Pair, ...],
    *,
    top_pairs: int,
    max_images: int,
    first: tuple[tuple[str, str], ...] = (),
    seed: int = 0,
) -> list[PairSample]:
    """Random errors and correct images within ``max_images``: the pairs named in ``first`` (true, pred),
    then the top pairs with the most confident errors first. Those are where a learnt cue and label
    errors look alike (the label finding needs this evidence), and a small budget should go to them
    before the merely most frequent pairs.

    Random errors rather than the most confident ones: the rule compares errors with correct images, and
    a selection by confidence could make the errors look different for reasons other than where the model
    looks. A pair that cannot get the rule's minimums within what is left is skipped.
    """
    rng = np.random.default_rng(seed)
    preds = p.preds
    correct = preds == p.labels
    true_prob = p.probs[np.arange(len(p.labels)), p.labels]
    named = [q for key in first for q in pairs if (q.true, q.pred) == key]
    top = named + [q for q in pairs[:top_pairs] if q not in named]
    confident = [
        int(np.sum((p.labels == p.names.index(q.true)) & (preds == p.names.index(q.pred)) & (true_prob <= CONFIDENT)))
        for q in top
    ]
    chosen: set[int] = set()
    out = []
    # Stable: named pairs stay first, equal counts keep the pair order.
    for k in sorted(range(len(top)), key=lambda k: (k >= len(named), -confident[k])):
        pair = top[k]
        a, b = p.names.index(pair.true), p.names.index(pair.pred)
        errors = np.flatnonzero((p.labels == a) & (preds == b))
        ok = np.flatnonzero(correct & np.isin(p.labels, [a, b]))
        left = max_images - len(chosen)
        n_err = min(len(errors), ERRORS_PER_PAIR, max(0, left - MIN_CORRECT))
        n_ok = min(len(ok), CORRECT_PER_PAIR, max(0, left - n_err))
        if n_err < MIN_ERRORS or n_ok < MIN_CORRECT:
            continue
        e = np.sort(rng.choice(errors, n_err, replace=False))
        c = np.sort(rng.choice(ok, n_ok, replace=False))
        chosen.update(e.tolist() + c.tolist())
        out.append(PairSample(pair, e, c))
    return out


def pair_inputs_from_drops(
    p: Predictions, samples: list[PairSample], drops: dict[int, np.ndarray]
) -> tuple[PairAttentionInput, ...]:
    """What the ``attention_region`` rule reads, per sampled pair, from each image's region drops."""
    out = []
    for s in samples:
        err = np.array([drops[i] for i in s.errors if i in drops]).reshape(-1, N_REGIONS)
        ok = np.array([drops[i] for i in s.correct if i in drops]).reshape(-1, N_REGIONS)
        if len(err) < MIN_ERRORS or len(ok) < MIN_CORRECT:
            continue
        error_cells, error_border = shares_from_drops(err)
        correct_cells, correct_border = shares_from_drops(ok)
        b = p.names.index(s.pair.pred)
        a = p.names.index(s.pair.true)
        all_errors = np.flatnonzero((p.labels == a) & (p.preds == b))
        order = all_errors[np.argsort(-p.logits[all_errors, b], kind="stable")]
        out.append(
            PairAttentionInput(
                s.pair.true,
                s.pair.pred,
                error_cells,
                correct_cells,
                error_border,
                correct_border,
                tuple(p.paths[i] for i in order[:12]),
            )
        )
    return tuple(out)
