"""Attention statistics over the low-resolution CAMs of every image (pure numpy).

Each image's CAM is turned into a distribution (sums to 1) before anything is averaged, so bright
and dim maps weigh the same. For a confused pair A -> B the report compares where the model looks on
its errors (for B, the class it chose, and for A, the class it missed) with where it looks on
correctly classified A and B images.
"""

from __future__ import annotations

import numpy as np

from ..findings.inputs import PairAttentionInput
from ..results import GRID_NAMES, AttentionMap, AttentionResult, AttentionStats, ClassAttention, Pair, PairAttention
from .predictions import Predictions


def normalise_maps(cams: np.ndarray) -> np.ndarray:
    """Each map divided by its sum (float64); an all-zero or missing map becomes uniform."""
    maps = np.nan_to_num(cams.astype(np.float64), nan=0.0).clip(min=0.0)
    total = maps.sum(axis=(-2, -1), keepdims=True)
    uniform = np.full_like(maps, 1.0 / (maps.shape[-2] * maps.shape[-1]))
    return np.where(total > 0, maps / np.where(total > 0, total, 1.0), uniform)


def grid_shares(dist: np.ndarray) -> dict[str, float]:
    """Share of a distribution map in each cell of a 3x3 grid (cells split exactly by area)."""
    cells, _ = _cell_and_border_shares(dist[None])
    return {name: float(share) for name, share in zip(GRID_NAMES, cells[0], strict=True)}


def attention_stats(dist: np.ndarray, *, n: int) -> AttentionStats:
    """Entropy (normalised), border share and 3x3 grid shares of one distribution map."""
    h, w = dist.shape
    p = dist[dist > 0]
    entropy = float(-(p * np.log(p)).sum() / np.log(h * w)) if h * w > 1 else 0.0
    grid = grid_shares(dist)
    return AttentionStats(
        n=n,
        entropy=entropy,
        border_share=float(dist[_ring(h, w)].sum()),
        border_area=float(_ring(h, w).mean()),
        grid=grid,
        peak=max(grid, key=grid.__getitem__),
    )


def _mean_map(dists: np.ndarray, members: np.ndarray, *, group: str, label: str) -> AttentionMap | None:
    if len(members) == 0:
        return None
    mean = dists[members].mean(axis=0)
    return AttentionMap(
        group=group,
        label=label,
        map=tuple(tuple(float(v) for v in row) for row in mean),
        stats=attention_stats(mean, n=len(members)),
    )


def compute_attention(
    p: Predictions, cams: np.ndarray, pairs: tuple[Pair, ...], *, layer: str, top_pairs: int, method: str = "grad-cam"
) -> AttentionResult:
    """Mean attention per class (correct images) and, for the top pairs, errors vs correct images.

    ``cams`` is (n, 2, h, w): channel 0 the CAM of the predicted class, 1 of the true class.
    """
    pred_d = normalise_maps(cams[:, 0])
    true_d = normalise_maps(cams[:, 1])
    preds = p.preds
    correct = preds == p.labels
    classes = []
    for k, name in enumerate(p.names):
        members = np.flatnonzero(correct & (p.labels == k))
        classes.append(
            ClassAttention(name=name, attention=_mean_map(true_d, members, group="correct", label=f"correct {name}"))
        )
    out_pairs = []
    for pair in pairs[:top_pairs]:
        a, b = p.names.index(pair.true), p.names.index(pair.pred)
        errors = np.flatnonzero((p.labels == a) & (preds == b))
        ok_a = np.flatnonzero(correct & (p.labels == a))
        ok_b = np.flatnonzero(correct & (p.labels == b))
        candidates = [
            _mean_map(pred_d, errors, group="errors_pred", label=f"errors: CAM for {pair.pred} (chosen)"),
            _mean_map(true_d, errors, group="errors_true", label=f"errors: CAM for {pair.true} (missed)"),
            _mean_map(true_d, ok_a, group="correct_true", label=f"correct {pair.true}"),
            _mean_map(true_d, ok_b, group="correct_pred", label=f"correct {pair.pred}"),
        ]
        maps = tuple(m for m in candidates if m is not None)
        out_pairs.append(PairAttention(true=pair.true, pred=pair.pred, anchor=pair.anchor, maps=maps))
    h, w = cams.shape[-2:]
    return AttentionResult(
        layer=layer, method=method, resolution=(int(h), int(w)), classes=tuple(classes), pairs=tuple(out_pairs)
    )


def _ring(h: int, w: int) -> np.ndarray:
    """The outer ring of an h x w map (the whole map when it is too small to have an inside)."""
    ring = np.ones((h, w), dtype=bool)
    if h > 2 and w > 2:
        ring[1:-1, 1:-1] = False
    return ring


def _cell_and_border_shares(dists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per map: its 3x3 grid shares (n x 9, order GRID_NAMES, cells split exactly by area) and the share
    on the outer ring."""
    if len(dists) == 0:
        return np.zeros((0, 9)), np.zeros(0)
    n, h, w = dists.shape
    fine = np.repeat(np.repeat(dists, 3, axis=1), 3, axis=2) / 9.0  # h x w -> 3h x 3w: thirds fall on cell edges
    cells = fine.reshape(n, 3, h, 3, w).sum(axis=(2, 4)).reshape(n, 9)
    return cells, dists[:, _ring(h, w)].sum(axis=1)


def pair_attention_inputs(p: Predictions, cams: np.ndarray, pairs: tuple[Pair, ...], *, top_pairs: int):
    """What the ``attention_region`` rule reads, per top pair: the errors' CAM (for the class chosen)
    against the CAM of correctly classified images of both classes, as per-image grid and border shares."""
    pred_d = normalise_maps(cams[:, 0])
    preds = p.preds
    correct = preds == p.labels
    out = []
    for pair in pairs[:top_pairs]:
        a, b = p.names.index(pair.true), p.names.index(pair.pred)
        errors = np.flatnonzero((p.labels == a) & (preds == b))
        ok = np.flatnonzero(correct & np.isin(p.labels, [a, b]))
        error_cells, error_border = _cell_and_border_shares(pred_d[errors])
        correct_cells, correct_border = _cell_and_border_shares(pred_d[ok])
        order = errors[np.argsort(-p.logits[errors, b], kind="stable")]
        out.append(
            PairAttentionInput(
                pair.true,
                pair.pred,
                error_cells,
                correct_cells,
                error_border,
                correct_border,
                tuple(p.paths[i] for i in order[:12]),
            )
        )
    return tuple(out)
