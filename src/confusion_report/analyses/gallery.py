"""Pick the images a pair's gallery shows: its errors and typical correct images of both classes."""

from __future__ import annotations

import numpy as np

from ..results import Gallery, ImageRef, Pair
from .predictions import Predictions

ERRORS_SHOWN = 8
TYPICAL_SHOWN = 4


def _typical(p: Predictions, cls: int, probs: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Correct images of ``cls`` nearest to its mean embedding (cosine), else the most confident."""
    members = np.flatnonzero(correct & (p.labels == cls))
    if len(members) == 0:
        return members
    if p.embeddings is not None:
        emb = p.embeddings[members].astype(np.float64)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
        centre = emb.mean(axis=0)
        score = emb @ centre
    else:
        score = probs[members, cls]
    return members[np.argsort(-score, kind="stable")][:TYPICAL_SHOWN]


def build_galleries(p: Predictions, pairs: tuple[Pair, ...], *, top_pairs: int) -> tuple[Gallery, ...]:
    """One gallery for each of the ``top_pairs`` first pairs."""
    probs = p.probs
    preds = p.preds
    correct = preds == p.labels
    index = {path: i for i, path in enumerate(p.paths)}
    typical_by = "nearest to the class mean embedding" if p.embeddings is not None else "highest confidence"

    def ref(i: int) -> ImageRef:
        return ImageRef(
            path=p.paths[i],
            true=p.names[p.labels[i]],
            pred=p.names[preds[i]],
            confidence=float(probs[i, preds[i]]),
            true_prob=float(probs[i, p.labels[i]]),
        )

    galleries = []
    for pair in pairs[:top_pairs]:
        a, b = p.names.index(pair.true), p.names.index(pair.pred)
        errors = [index[path] for path in pair.examples[:ERRORS_SHOWN]]
        galleries.append(
            Gallery(
                true=pair.true,
                pred=pair.pred,
                anchor=pair.anchor,
                errors=tuple(ref(i) for i in errors),
                typical_true=tuple(ref(i) for i in _typical(p, a, probs, correct)),
                typical_pred=tuple(ref(i) for i in _typical(p, b, probs, correct)),
                typical_by=typical_by,
            )
        )
    return tuple(galleries)
