"""How the confusion matrix travels in the results JSON: dense for a few classes, sparse for many.

Up to :data:`SPARSE_ABOVE` classes ``confusion.counts`` is the dense list of rows (rows = true,
columns = predicted), readable by eye. Above it, a 1,000-class matrix would be a million numbers
that are almost all zero, so ``counts`` is left out and ``confusion.sparse`` holds the non-zero
cells as three aligned columns (coordinate format)::

    "sparse": {"format": "coo", "shape": [n, n], "row": [...], "col": [...], "count": [...]}

``row``/``col`` index ``confusion.classes``. scipy reads it as
``coo_matrix((s["count"], (s["row"], s["col"])), shape=s["shape"])``, pandas as
``DataFrame({"row": s["row"], "col": s["col"], "count": s["count"]})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Class counts above which the matrix is stored sparsely (the heatmap switches to an overview at the
# same size, render/heatmap_overview.py).
SPARSE_ABOVE = 50


def encode_counts(counts: Sequence[Sequence[int]]) -> dict[str, Any]:
    """``{"counts": rows}`` for a small matrix, ``{"sparse": {...}}`` above :data:`SPARSE_ABOVE` classes."""
    if len(counts) <= SPARSE_ABOVE:
        return {"counts": [[int(v) for v in row] for row in counts]}
    dense = np.asarray(counts, dtype=np.int64)
    rows, cols = np.nonzero(dense)
    return {
        "sparse": {
            "format": "coo",
            "shape": [int(dense.shape[0]), int(dense.shape[1])],
            "row": rows.tolist(),
            "col": cols.tolist(),
            "count": dense[rows, cols].tolist(),
        }
    }


def decode_counts(data: dict[str, Any]) -> tuple[tuple[int, ...], ...]:
    """The dense rows from either form that :func:`encode_counts` writes."""
    if "counts" in data:
        return tuple(tuple(int(v) for v in row) for row in data["counts"])
    sparse = data["sparse"]
    if sparse.get("format") != "coo":
        raise ValueError(f"unknown sparse confusion format {sparse.get('format')!r}")
    dense = np.zeros(tuple(sparse["shape"]), dtype=np.int64)
    dense[np.asarray(sparse["row"], dtype=np.int64), np.asarray(sparse["col"], dtype=np.int64)] = sparse["count"]
    return tuple(tuple(int(v) for v in row) for row in dense.tolist())
