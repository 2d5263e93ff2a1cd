"""Small significance helpers shared by the analyses and the finding rules (scipy, no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bh_qvalues(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order; controls the false discovery rate."""
    p = np.asarray(p_values, dtype=np.float64)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.clip(ranked, 0.0, 1.0)
    return q


def fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact p-value that the odds in row 1 (a: hits, b: misses) exceed row 2 (c, d)."""
    from scipy.stats import fisher_exact

    return float(fisher_exact([[a, b], [c, d]], alternative="greater")[1])


def binom_greater(k: int, n: int, p: float) -> float:
    """One-sided binomial p-value P(X >= k) for X ~ Binomial(n, p)."""
    from scipy.stats import binomtest

    if n == 0:
        return 1.0
    return float(binomtest(int(k), int(n), float(min(max(p, 0.0), 1.0)), alternative="greater").pvalue)


def strength(p_value: float) -> float:
    """-log10(p), capped at 50: how strongly the data speak, for ranking findings of one severity."""
    return float(min(50.0, -np.log10(max(p_value, 1e-300))))
