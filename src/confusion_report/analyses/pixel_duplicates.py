"""Near-duplicate images: embedding candidates, confirmed on pixels where the images can be read."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..evidence import DuplicateGroup
from .neighbour_labels import knn

COSINE = 0.98  # candidates: near-identical in feature space
PIXEL_CORR = 0.9  # confirmation: 16x16 grayscale thumbnails correlate at least this much
MAX_CANDIDATES = 5000


def pixel_signature(rgb: np.ndarray) -> np.ndarray:
    """A 16x16 grayscale (box-filtered), mean-free, unit-norm vector of an ``(H, W, 3)`` uint8 image."""
    from PIL import Image

    small = Image.fromarray(np.asarray(rgb, dtype=np.uint8)).convert("L").resize((16, 16), Image.Resampling.BOX)
    v = np.asarray(small, dtype=np.float64).ravel()
    v -= v.mean()
    return v / (np.linalg.norm(v) + 1e-9)


def find_duplicate_groups(
    embeddings: np.ndarray | None,
    labels: np.ndarray,
    names: tuple[str, ...],
    paths: tuple[str, ...],
    *,
    pixels: Callable[[int], np.ndarray | None] | None = None,
    cosine: float = COSINE,
    pixel_corr: float = PIXEL_CORR,
    k: int = 5,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[DuplicateGroup, ...]:
    """Groups of near-identical images (connected components of candidate pairs); conflicting labels first.

    Candidates are pairs among each image's ``k`` nearest neighbours with cosine >= ``cosine``. With
    ``pixels`` (index -> RGB array, or None when unreadable) a candidate is kept only if the pixel
    signatures also correlate >= ``pixel_corr``: two different photographs can look alike to a model.
    ``neighbours`` (indices and cosine similarities, nearest first) reuses a kNN computed elsewhere.
    """
    if embeddings is None or len(labels) < 2:
        return ()
    idx, sim = (neighbours[0][:, :k], neighbours[1][:, :k]) if neighbours is not None else knn(embeddings, k)
    cand = [
        (i, int(j), float(s))
        for i in range(len(idx))
        for j, s in zip(idx[i], sim[i], strict=True)
        if s >= cosine and i < j
    ]
    cand.sort(key=lambda t: -t[2])
    cand = cand[:MAX_CANDIDATES]
    sigs: dict[int, np.ndarray | None] = {}

    def sig(i: int) -> np.ndarray | None:
        if i not in sigs:
            arr = pixels(i) if pixels is not None else None
            sigs[i] = None if arr is None else pixel_signature(arr)
        return sigs[i]

    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edge_sim: dict[int, float] = {}
    checked = pixels is not None
    for i, j, s in cand:
        if checked:
            si, sj = sig(i), sig(j)
            if si is None or sj is None or float(si @ sj) < pixel_corr:
                continue
        ri, rj = find(i), find(j)
        parent[ri] = rj
        edge_sim[i] = min(edge_sim.get(i, 1.0), s)
        edge_sim[j] = min(edge_sim.get(j, 1.0), s)
    groups: dict[int, list[int]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort()
        out.append(
            DuplicateGroup(
                paths=tuple(paths[i] for i in members),
                labels=tuple(names[labels[i]] for i in members),
                similarity=float(min(edge_sim[i] for i in members)),
                pixel_checked=checked,
            )
        )
    out.sort(key=lambda g: (len(set(g.labels)) == 1, -len(g.paths), g.paths))
    return tuple(out)
