"""Depth of separation: how well a linear probe tells a pair's two classes apart at each stage.

Pure numpy/scikit-learn over the pooled stage activations gathered in the pass. Classes are
balanced by subsampling, so 0.5 is chance at every stage and the curve reads directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..findings.inputs import StageSeparability
from ..results import Pair, PairSeparation, Separation, StageScore
from .predictions import Predictions

MAX_PER_CLASS = 300
MAX_DIM = 64
FOLDS = 5


def probe_accuracy(x: np.ndarray, y: np.ndarray, *, folds: int = FOLDS, seed: int = 0) -> tuple[float, float]:
    """Mean and std of stratified k-fold accuracy of a standardised logistic regression (PCA above MAX_DIM)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [StandardScaler()]
    if x.shape[1] > MAX_DIM:
        steps.append(PCA(n_components=min(MAX_DIM, len(x) // 2), random_state=seed))
    steps.append(LogisticRegression(C=1.0, max_iter=500))
    folds = max(2, min(folds, int(np.bincount(y).min())))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and constant-feature warnings do not change the answer
        scores = cross_val_score(make_pipeline(*steps), x, y, cv=cv)
    return float(scores.mean()), float(scores.std())


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
    # machine OpenBLAS's spinning threads made one probe 30 s instead of 0.4 s (measured).
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
            x = np.nan_to_num(arr[members].astype(np.float64))
            mean, std = probe_accuracy(x, y, seed=seed)
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
        method=f"{FOLDS}-fold logistic probe on globally pooled activations (balanced, chance 0.5)",
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
