"""Channels whose mean pooled activation differs most between a pair's two classes (pure numpy)."""

from __future__ import annotations

import numpy as np

from ..results import ChannelContrast, Pair
from .predictions import Predictions

CHANNELS_SHOWN = 3
TOP_IMAGES = 4


def channel_contrasts(
    p: Predictions,
    pooled: np.ndarray,
    pair: Pair,
    *,
    layer: str,
    k: int = CHANNELS_SHOWN,
    top_images: int = TOP_IMAGES,
) -> tuple[ChannelContrast, ...]:
    """The ``k`` channels with the largest standardised A/B difference, each with its top-activating images.

    The top images come from the whole dataset (any class): cheap feature visualisation by example.
    """
    a, b = p.names.index(pair.true), p.names.index(pair.pred)
    x = pooled.astype(np.float64)
    xa, xb = x[p.labels == a], x[p.labels == b]
    if len(xa) < 2 or len(xb) < 2:
        return ()
    ma, mb = xa.mean(axis=0), xb.mean(axis=0)
    sd = np.sqrt(0.5 * (xa.var(axis=0) + xb.var(axis=0))) + 1e-8
    effect = (mb - ma) / sd
    out = []
    for c in np.argsort(-np.abs(effect), kind="stable")[:k]:
        top = np.argsort(-x[:, c], kind="stable")[:top_images]
        out.append(
            ChannelContrast(
                layer=layer,
                channel=int(c),
                mean_true=float(ma[c]),
                mean_pred=float(mb[c]),
                effect=float(effect[c]),
                favours=pair.pred if effect[c] > 0 else pair.true,
                top_images=tuple(p.paths[i] for i in top),
            )
        )
    return tuple(out)
