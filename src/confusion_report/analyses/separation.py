"""Depth of separation: how well a linear probe tells a pair's two classes apart at each stage.

Pure numpy over the pooled stage activations gathered in the pass. Classes are
balanced by subsampling, so 0.5 is chance at every stage and the curve reads directly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..findings.inputs import StageSeparability
from ..results import Pair, PairSeparation, Separation, StageScore
from .predictions import Predictions

MAX_PER_CLASS = 300
MAX_DIM = 64
FOLDS = 5
RIDGE = 1.0  # the penalty on standardised features (scikit-learn's RidgeClassifier default)


def probe_accuracy(x: np.ndarray, y: np.ndarray, *, folds: int = FOLDS, seed: int = 0) -> tuple[float, float]:
    """Mean and std of stratified k-fold accuracy of a linear probe on two classes (``y`` in {0, 1}).

    The probe is a ridge (least-squares) classifier on standardised features, reduced by PCA to
    :data:`MAX_DIM` components when wider. It is solved in closed form in numpy: the previous logistic
    regression through scikit-learn's cross-validation cost 15 ms per fit, 1.3 s of a 10,000-image CIFAR
    report (3 pairs x 6 stages x 5 folds), for accuracies within a few points of this one. The PCA is fitted
    once on all the probe's images (it never sees a label), the scaling per training fold.
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    y = np.asarray(y)
    if x.shape[1] > MAX_DIM:
        centred = x - x.mean(axis=0)
        # Rows <= 2 x MAX_PER_CLASS: the thin SVD costs O(rows^2 x dim), small beside the pass.
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        x = centred @ vt[: min(MAX_DIM, len(x) // 2)].T
    folds = max(2, min(folds, int(np.bincount(y).min())))
    fold = _stratified_folds(y, folds, seed=seed)
    target = np.where(y == 1, 1.0, -1.0)
    scores = []
    for f in range(folds):
        train, test = fold != f, fold == f
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
        sd[sd < 1e-12] = 1.0  # constant features carry nothing; keep them at zero
        a = np.hstack([(x[train] - mu) / sd, np.ones((int(train.sum()), 1))])
        penalty = RIDGE * np.eye(a.shape[1])
        penalty[-1, -1] = 0.0  # the bias is not shrunk
        w = np.linalg.solve(a.T @ a + penalty, a.T @ target[train])
        b = np.hstack([(x[test] - mu) / sd, np.ones((int(test.sum()), 1))])
        scores.append(float(np.mean((b @ w >= 0) == (target[test] > 0))))
    return float(np.mean(scores)), float(np.std(scores))


def _stratified_folds(y: np.ndarray, folds: int, *, seed: int) -> np.ndarray:
    """A fold number per row, each class dealt round-robin over the folds in a seeded random order."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold[members] = np.arange(len(members)) % folds
    return fold


def compute_separation(
    p: Predictions,
    stages: Mapping[str, np.ndarray],
    pairs: tuple[Pair, ...],
    *,
    top_pairs: int,
    max_per_class: int = MAX_PER_CLASS,
    seed: int = 0,
) -> Separation:
    """Probe accuracy per stage for each of the ``top_pairs`` first pairs, on images labelled A or B."""
    from threadpoolctl import threadpool_limits

    # The probes are small (<= 600 x 64 after PCA): BLAS threads only add overhead, and on a busy 2-core
    # machine OpenBLAS's spinning threads made one probe 30 s instead of 0.4 s (measured with scikit-learn).
    with threadpool_limits(limits=1, user_api="blas"):
        return _separation(p, stages, pairs, top_pairs=top_pairs, max_per_class=max_per_class, seed=seed)


def _separation(
    p: Predictions,
    stages: Mapping[str, np.ndarray],
    pairs: tuple[Pair, ...],
    *,
    top_pairs: int,
    max_per_class: int,
    seed: int,
) -> Separation:
    rng = np.random.default_rng(seed)
    out = []
    for pair in pairs[:top_pairs]:
        a, b = p.names.index(pair.true), p.names.index(pair.pred)
        ia, ib = np.flatnonzero(p.labels == a), np.flatnonzero(p.labels == b)
        k = min(len(ia), len(ib), max_per_class)
        if k < 4:
            continue
        members = np.concatenate([rng.choice(ia, k, replace=False), rng.choice(ib, k, replace=False)])
        y = np.repeat([0, 1], k)
        scores = []
        for name, arr in stages.items():
            mean, std = probe_accuracy(arr[members], y, seed=seed)
            scores.append(StageScore(stage=name, dim=int(arr.shape[1]), accuracy=mean, std=std))
        best = max(scores, key=lambda s: s.accuracy)
        out.append(
            PairSeparation(
                true=pair.true,
                pred=pair.pred,
                anchor=pair.anchor,
                n_per_class=int(k),
                stages=tuple(scores),
                best_stage=best.stage,
                best_accuracy=best.accuracy,
            )
        )
    return Separation(
        method=f"{FOLDS}-fold linear (ridge) probe on globally pooled activations (balanced, chance 0.5)",
        stages=tuple(stages),
        pairs=tuple(out),
    )


def separability_inputs(separation) -> tuple:
    """What the ``layer_separation`` rule reads: per pair, the probe accuracy at each stage, shallow first."""
    if separation is None:
        return ()
    return tuple(
        StageSeparability(
            true=ps.true,
            pred=ps.pred,
            stage_names=tuple(s.stage for s in ps.stages),
            accuracies=tuple(s.accuracy for s in ps.stages),
            n=2 * ps.n_per_class,
        )
        for ps in separation.pairs
    )
