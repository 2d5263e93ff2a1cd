"""How much the classes of a confused pair mix in feature space (neighbour mixing, silhouette)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..evidence import PairOverlap
from ..results import Pair
from .neighbour_labels import neighbour_index, normalise
from .predictions import Predictions

K = 10
SILHOUETTE_SAMPLE = 1000


def neighbour_mixing_matrix(idx: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """M[i, j]: mean share of the neighbours of class-i images that are labelled j."""
    n, k = idx.shape
    counts = np.zeros((n, n_classes))
    np.add.at(counts, (np.repeat(np.arange(n), k), labels[idx].ravel()), 1.0 / k)
    out = np.zeros((n_classes, n_classes))
    for c in range(n_classes):
        m = labels == c
        if m.any():
            out[c] = counts[m].mean(axis=0)
    return out


def pair_overlaps(
    p: Predictions,
    pairs: Sequence[Pair],
    *,
    top_pairs: int = 10,
    k: int = K,
    seed: int = 0,
    neighbours: np.ndarray | None = None,
) -> tuple[PairOverlap, ...]:
    """Overlap of the two classes of each of the ``top_pairs`` first pairs (needs embeddings).

    ``neighbours`` (indices, nearest first, at least k columns) reuses a kNN computed elsewhere.
    """
    from sklearn.metrics import silhouette_score

    if p.embeddings is None or len(p.labels) <= k or not pairs:
        return ()
    idx = neighbours[:, :k] if neighbours is not None else neighbour_index(p.embeddings, k)
    c = len(p.names)
    mix = neighbour_mixing_matrix(idx, p.labels, c)
    support = np.bincount(p.labels, minlength=c).astype(np.float64)

    def pair_mix(a: int, b: int) -> float:
        tot = support[a] + support[b]
        return float((mix[a, b] * support[a] + mix[b, a] * support[b]) / tot) if tot else 0.0

    present = np.flatnonzero(support > 0)
    all_mix = [pair_mix(a, b) for i, a in enumerate(present) for b in present[i + 1 :]]
    baseline = float(np.median(all_mix)) if all_mix else 0.0
    emb = normalise(p.embeddings)
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    for pr in pairs[:top_pairs]:
        a, b = p.names.index(pr.true), p.names.index(pr.pred)
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        members = np.flatnonzero((p.labels == a) | (p.labels == b))
        if len(members) > SILHOUETTE_SAMPLE:
            members = np.sort(rng.choice(members, SILHOUETTE_SAMPLE, replace=False))
        ok = len(np.unique(p.labels[members])) == 2 and len(members) > 3
        sil = float(silhouette_score(emb[members], p.labels[members], metric="cosine")) if ok else float("nan")
        out.append(
            PairOverlap(
                true=pr.true,
                pred=pr.pred,
                neighbour_mixing=pair_mix(a, b),
                silhouette=sil,
                baseline_mixing=baseline,
                n=int(support[a] + support[b]),
                k=k,
            )
        )
    return tuple(out)
