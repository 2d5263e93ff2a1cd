"""Near-duplicate images across and within classes.

Two images are near-duplicates when their embeddings are very similar (cosine of centred, unit-length
embeddings, from the shared k-NN graph, so the search never builds an N x N matrix) AND a cheap pixel
check agrees: the difference hash (dHash) of the two images differs in few bits. The pass hashes every
image as the model sees it (``collectors/image_stats.py``); without it the files are hashed here. The embedding finds
candidates fast; the hash rejects images the model merely finds alike (two flat blue skies).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from ..results import DuplicateGroup, DuplicateMember, Duplicates
from .knn import KnnGraph
from .predictions import Predictions

SIMILARITY = 0.90  # a re-sized or re-encoded copy of a CIFAR image measured 0.92-0.99 (centred cosine)
HASH_SIDE = 8
HASH_DISTANCE = 6  # of 64 bits: survives resizing and JPEG re-encoding, rejects different pictures
MAX_CANDIDATES = 20_000
MAX_GROUPS = 200


def dhash(img: Image.Image, *, side: int = HASH_SIDE) -> int:
    """Difference hash: ``side`` x ``side`` bits, 1 where a shrunken grey pixel is brighter than its right neighbour."""
    grey = img.convert("L").resize((side + 1, side), Image.Resampling.LANCZOS)
    px = np.asarray(grey, dtype=np.int16)
    return int(pack_hash_bits((px[:, 1:] > px[:, :-1]).reshape(1, -1))[0])


def pack_hash_bits(bits: np.ndarray) -> np.ndarray:
    """Rows of 64 booleans -> one unsigned 64-bit hash per row, the first bit the most significant."""
    return np.packbits(np.asarray(bits, dtype=bool), axis=1).view(">u8")[:, 0].astype(np.uint64)


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return bin(a ^ b).count("1")


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def candidate_pairs(graph: KnnGraph, *, similarity: float, limit: int) -> list[tuple[int, int, float]]:
    """Unordered pairs (i < j) of k-NN neighbours at or above ``similarity``, most similar first, at most ``limit``."""
    rows, cols = np.nonzero(graph.similarity >= similarity)
    if len(rows) == 0:
        return []
    i = rows
    j = graph.index[rows, cols]
    sims = graph.similarity[rows, cols]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keyed = {}
    for a, b, s in zip(lo.tolist(), hi.tolist(), sims.tolist(), strict=True):
        if a != b and s > keyed.get((a, b), -2.0):
            keyed[(a, b)] = s
    ranked = sorted(keyed.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [(a, b, s) for (a, b), s in ranked]


def find_duplicates(
    p: Predictions,
    graph: KnnGraph,
    *,
    image_hash: Callable[[str], int | None],
    similarity: float = SIMILARITY,
    max_distance: int = HASH_DISTANCE,
    max_candidates: int = MAX_CANDIDATES,
    max_groups: int = MAX_GROUPS,
) -> Duplicates:
    """Groups of near-duplicate images; ``image_hash(path)`` gives a file's dHash (None if unreadable).

    Groups with more than one label are ``conflicting`` and listed first, then larger groups.
    """
    candidates = candidate_pairs(graph, similarity=similarity, limit=max_candidates)
    hashes: dict[int, int | None] = {}

    def hash_of(i: int) -> int | None:
        if i not in hashes:
            hashes[i] = image_hash(p.paths[i])
        return hashes[i]

    uf = _UnionFind()
    edges: list[tuple[int, int, float, int]] = []
    for a, b, s in candidates:
        ha, hb = hash_of(a), hash_of(b)
        if ha is None or hb is None:
            continue
        d = hamming(ha, hb)
        if d <= max_distance:
            uf.union(a, b)
            edges.append((a, b, s, d))
    members: dict[int, list[int]] = {}
    for node in list(uf.parent):
        members.setdefault(uf.find(node), []).append(node)
    stats: dict[int, tuple[float, int]] = {}
    for a, _b, s, d in edges:
        root = uf.find(a)
        lo, hi = stats.get(root, (1.0, 0))
        stats[root] = (min(lo, s), max(hi, d))
    preds = p.preds
    groups = []
    for root, idx in members.items():
        idx = sorted(idx, key=lambda i: (p.names[p.labels[i]], p.paths[i]))
        labels = tuple(dict.fromkeys(p.names[p.labels[i]] for i in idx))
        lo, hi = stats[root]
        groups.append(
            DuplicateGroup(
                members=tuple(DuplicateMember(p.paths[i], p.names[p.labels[i]], p.names[preds[i]]) for i in idx),
                labels=labels,
                conflicting=len(labels) > 1,
                min_similarity=lo,
                max_hash_distance=hi,
            )
        )
    groups.sort(key=lambda g: (not g.conflicting, -len(g.members), -g.min_similarity, g.members[0].path))
    notes = []
    if len(candidates) >= max_candidates:
        notes.append(f"only the {max_candidates} most similar candidate pairs were checked")
    return Duplicates(
        similarity_threshold=similarity,
        hash_threshold=max_distance,
        hash_bits=HASH_SIDE * HASH_SIDE,
        candidate_pairs=len(candidates),
        confirmed_pairs=len(edges),
        n_groups=len(groups),
        n_conflicting=sum(g.conflicting for g in groups),
        n_images=sum(len(g.members) for g in groups),
        groups=tuple(groups[:max_groups]),
        notes=tuple(notes),
    )
