"""Expected calibration error (ECE), the reliability diagram, and over-confidence per predicted class."""

from __future__ import annotations

import numpy as np

from ..results import Calibration, ClassCalibration, ReliabilityBin
from .predictions import Predictions

N_BINS = 15


def _ece(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> tuple[float, list[ReliabilityBin]]:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (lo, hi]; a confidence of exactly 0 goes into the first bin.
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    bins, ece, n = [], 0.0, max(len(conf), 1)
    for b in range(n_bins):
        m = which == b
        cnt = int(m.sum())
        if cnt == 0:
            continue
        c, a = float(conf[m].mean()), float(correct[m].mean())
        ece += cnt / n * abs(c - a)
        bins.append(ReliabilityBin(lo=float(edges[b]), hi=float(edges[b + 1]), count=cnt, confidence=c, accuracy=a))
    return float(ece), bins


def overconfidence_p(conf: np.ndarray, correct: np.ndarray) -> float:
    """One-sided p-value that fewer predictions are right than the confidences promise.

    Under calibration the number right is Poisson-binomial with mean sum(conf) and variance
    sum(conf * (1 - conf)); a normal approximation with continuity correction is ample for n >= 20.
    """
    from scipy.stats import norm

    mean = conf.sum()
    var = (conf * (1 - conf)).sum()
    if var <= 0:
        return 1.0 if correct.sum() >= mean else 0.0
    z = (mean - correct.sum() - 0.5) / np.sqrt(var)
    return float(norm.sf(z))


def compute_calibration(p: Predictions, *, n_bins: int = N_BINS) -> Calibration:
    """Top-label ECE with ``n_bins`` equal-width bins, and the same per predicted class."""
    probs = p.probs
    preds = probs.argmax(axis=1)
    conf = probs[np.arange(len(preds)), preds]
    correct = (preds == p.labels).astype(np.float64)
    ece, bins = _ece(conf, correct, n_bins)
    per_class = []
    for c in np.unique(preds):
        m = preds == c
        ce, _ = _ece(conf[m], correct[m], n_bins)
        mc, acc = float(conf[m].mean()), float(correct[m].mean())
        per_class.append(
            ClassCalibration(
                name=p.names[c],
                n_predicted=int(m.sum()),
                mean_confidence=mc,
                accuracy=acc,
                gap=mc - acc,
                ece=ce,
                p_value=overconfidence_p(conf[m], correct[m]),
            )
        )
    per_class.sort(key=lambda c: -c.gap)
    return Calibration(
        ece=ece,
        n_bins=n_bins,
        bins=tuple(bins),
        per_class=tuple(per_class),
        mean_confidence=float(conf.mean()),
        accuracy=float(correct.mean()),
    )
