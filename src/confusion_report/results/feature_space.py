"""Feature-space results: projection, neighbour overlap of classes and pairs, near-duplicates.

Computed by ``analyses/projection.py``, ``analyses/neighbours.py`` and ``analyses/duplicates.py``.
The 2-D coordinates (:class:`Projection`) stay out of the embedded JSON: only the chart needs them.
:class:`PairOverlap` is the one measure of "do A and B overlap": the feature-space section shows it
and the ``feature_overlap`` finding reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Projection:
    """2-D coordinates of the projected images (a stratified sample for very large N), for the chart.

    Arrays are aligned: point ``i`` is ``paths[i]`` with true class ``names[labels[i]]``, predicted
    ``names[preds[i]]`` with ``confidence[i]``, drawn at ``(x[i], y[i])``.
    """

    method: str
    names: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    preds: np.ndarray
    confidence: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class ProjectionInfo:
    """How the embedding chart was made (the coordinates themselves are not serialised)."""

    method: str
    n_points: int
    n_total: int
    n_errors: int
    sampled: bool
    pca_dims: int | None
    seed: int
    seconds: float
    warmup_seconds_waited: float = 0.0
    requested: str | None = None


@dataclass(frozen=True)
class ClassOverlap:
    """How mixed one class is with the others among its k nearest neighbours (full embeddings)."""

    name: str = field(metadata={"json": "class"})
    support: int
    other_share: float
    nearest_class: str | None
    nearest_share: float


@dataclass(frozen=True)
class PairOverlap:
    """Overlap of two confused classes in the model's feature space.

    ``share_ab``: mean share of the k nearest neighbours (all images) of an ``a`` image that are
    labelled ``b`` (``share_ba`` the reverse). ``mixing``: among the images of ``a`` and ``b`` only,
    the share of an image's k nearest neighbours from the other class; ``chance`` is what random
    labels would give, and ``mixing_ratio = mixing / chance`` (1: indistinguishable, 0: apart).
    ``silhouette``: cosine silhouette of the two classes (1: apart, 0 or less: overlapping).
    """

    a: str
    b: str
    errors: int
    n_a: int
    n_b: int
    share_ab: float
    share_ba: float
    mixing: float
    chance: float
    mixing_ratio: float
    centroid_cosine: float
    silhouette: float
    verdict: str


@dataclass(frozen=True)
class SimilarClasses:
    """Two classes whose centroids are close (cosine of the centred, normalised mean embeddings)."""

    a: str
    b: str
    cosine: float


@dataclass(frozen=True)
class Neighbour:
    """One nearest neighbour of an image: its path, label, prediction and cosine similarity."""

    path: str
    label: str
    pred: str
    similarity: float


@dataclass(frozen=True)
class ErrorNeighbours:
    """A gallery error and its nearest neighbours in the full embedding space."""

    path: str
    true: str
    pred: str
    share_true: float
    share_pred: float
    neighbours: tuple[Neighbour, ...]


@dataclass(frozen=True)
class FeatureSpace:
    """Everything measured on the embeddings: projection summary, neighbour overlap, centroid similarity."""

    embedding_dim: int
    k: int
    metric: str
    projection: ProjectionInfo | None
    classes: tuple[ClassOverlap, ...]
    pairs: tuple[PairOverlap, ...]
    similar_classes: tuple[SimilarClasses, ...]
    centroid_classes: tuple[str, ...] = ()
    centroid_cosine: tuple[tuple[float, ...], ...] = ()
    error_neighbours: tuple[ErrorNeighbours, ...] = ()
    notes: tuple[str, ...] = ()
    # Above 20,000 images the k nearest neighbours are searched cell by cell: the share of the exact
    # neighbours found, measured on a sample (None: exact).
    knn_recall: float | None = None


@dataclass(frozen=True)
class DuplicateMember:
    """One image of a near-duplicate group."""

    path: str
    label: str
    pred: str


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are near-copies of each other: similar embeddings and similar pixels (perceptual hash).

    ``conflicting`` when the group holds more than one label: at least one of them is likely wrong,
    or the classes are not separable from these pictures.
    """

    members: tuple[DuplicateMember, ...]
    labels: tuple[str, ...]
    conflicting: bool
    min_similarity: float
    max_hash_distance: int


@dataclass(frozen=True)
class Duplicates:
    """Near-duplicate groups across and within classes (the listed groups are capped, counts are not)."""

    similarity_threshold: float
    hash_threshold: int
    hash_bits: int
    candidate_pairs: int
    confirmed_pairs: int
    n_groups: int
    n_conflicting: int
    n_images: int
    groups: tuple[DuplicateGroup, ...]
    notes: tuple[str, ...] = ()
