"""Frozen result and input dataclasses behind the automatic findings.

The first group is computed by this package's own analyses and travels in the JSON (label issues,
property slices, calibration, near-duplicate groups, feature overlap). The second group are the
*inputs* of the rules that other stages feed (attention grids per pair, per-stage probe accuracies):
small, documented shapes so that any producer can be adapted to them.
Nothing here imports torch, and nothing imports :mod:`confusion_report.results` (no cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The 3x3 cells of an image, row-major: index k is row k // 3, column k % 3.
GRID_CELLS = (
    "top-left",
    "top",
    "top-right",
    "left",
    "center",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
)


@dataclass(frozen=True)
class LabelSuspect:
    """One image whose given label is probably wrong."""

    path: str
    given: str
    suggested: str
    score: float  # log p(given) + 0.5 log(neighbour share of given); lower = more suspicious
    self_confidence: float  # the model's probability of the given label
    neighbour_agreement: float  # smoothed share of the k nearest feature-space neighbours that carry the given label
    suggested_prob: float  # the model's probability of the suggested class


@dataclass(frozen=True)
class NoiseExcess:
    """More images labelled ``given`` that the calibrated model firmly places in ``suggested`` than chance.

    ``expected`` is what a calibrated model predicts if every label were right (each image's label
    drawn from its calibrated probabilities); ``observed`` is the actual count.
    """

    given: str
    suggested: str
    observed: int
    expected: float
    p_value: float  # Poisson upper tail
    q_value: float  # Benjamini-Hochberg over all (given, suggested) pairs


@dataclass(frozen=True)
class LabelIssues:
    """Suspected label errors, most suspicious first, and how they were found."""

    method: str
    k_neighbours: int
    n_flagged: int
    suspects: tuple[LabelSuspect, ...]
    n_baseline_flagged: int = 0
    temperature: float = 1.0  # fitted (with per-class biases) on the data before the excess test
    threshold: float = 0.05  # calibrated probability of the given label at or below which an image counts
    excess: tuple[NoiseExcess, ...] = ()  # significant pairs only, strongest first


@dataclass(frozen=True)
class PropertySlice:
    """Errors of a class (or of one directed pair) concentrated in a low/high slice of an image property."""

    true: str
    pred: str | None  # None: any error of ``true``; else only errors ``true -> pred``
    prop: str = field(metadata={"json": "property"})
    direction: str  # "low" | "high" | "yes" (binary properties such as grayscale)
    threshold: float  # slice bound in the property's own unit (<= for low, >= for high)
    n_slice: int
    errors_slice: int
    n_rest: int
    errors_rest: int
    lift: float  # error rate in the slice / error rate outside it
    p_value: float  # one-sided Fisher exact test
    q_value: float  # Benjamini-Hochberg over every slice tested
    examples: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # other significant properties of the same class/pair ("contrast low", ...)


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin of the reliability diagram."""

    lo: float
    hi: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class ClassCalibration:
    """Calibration of the images *predicted* as one class: confidence vs how often that is right."""

    name: str = field(metadata={"json": "class"})
    n_predicted: int
    mean_confidence: float
    accuracy: float
    gap: float  # mean_confidence - accuracy; > 0 is over-confidence
    ece: float
    p_value: float  # one-sided: accuracy lower than the confidences promise (normal approx. to Poisson-binomial)


@dataclass(frozen=True)
class Calibration:
    """Expected calibration error overall and per predicted class, with the reliability bins."""

    ece: float
    n_bins: int
    bins: tuple[ReliabilityBin, ...]
    per_class: tuple[ClassCalibration, ...]
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class PairOverlap:
    """How much two classes mix in feature space.

    ``neighbour_mixing``: over images of both classes, the mean share of each image's k nearest
    neighbours (in the whole set) that carry the *other* class of the pair. ``silhouette``: cosine
    silhouette of the two classes' embeddings (1 = apart, 0 = overlapping). ``baseline_mixing``: the
    median mixing over all class pairs, for comparison.
    """

    true: str
    pred: str
    neighbour_mixing: float
    silhouette: float
    baseline_mixing: float
    n: int
    k: int


@dataclass(frozen=True)
class DuplicateGroup:
    """Near-identical images (by embedding and, where checked, by pixels), with their labels."""

    paths: tuple[str, ...]
    labels: tuple[str, ...]
    similarity: float  # minimum embedding cosine similarity inside the group
    pixel_checked: bool = False
    splits: tuple[str, ...] = ()  # per path, when the data has splits; empty otherwise


@dataclass(frozen=True)
class PairAttentionInput:
    """Where the model looks for one directed pair, errors against correct predictions.

    ``error_cells`` (n_errors x 9) and ``correct_cells`` (n_correct x 9): per image, the share of its
    (non-negative) attention map in each 3x3 cell (rows sum to 1, order :data:`GRID_CELLS`), for the
    errors ``true -> pred`` and for correctly classified images of ``true`` and ``pred``.
    ``error_border`` / ``correct_border``: per image, the share of attention in the outer ring
    (e.g. the outer 1/8 of each side); leave empty when unknown.
    """

    true: str
    pred: str
    error_cells: np.ndarray
    correct_cells: np.ndarray
    error_border: np.ndarray = field(default_factory=lambda: np.zeros(0))
    correct_border: np.ndarray = field(default_factory=lambda: np.zeros(0))
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSeparability:
    """Linear-probe accuracy separating ``true`` from ``pred`` at each stage of the network, shallow first.

    ``accuracies[i]`` is a held-out accuracy on ``n`` balanced images (chance 0.5) at ``stage_names[i]``.
    """

    true: str
    pred: str
    stage_names: tuple[str, ...]
    accuracies: tuple[float, ...]
    n: int
