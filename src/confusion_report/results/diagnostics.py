"""Diagnostics results: suspected label errors, error slices by image property, calibration.

Computed by ``analyses/label_issues.py``, ``analyses/slices.py`` and ``analyses/calibration.py``;
the findings rules read them and the JSON carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabelSuspect:
    """One image whose given label is probably wrong."""

    path: str
    given: str
    suggested: str
    score: float  # log p(given) + 0.25 log(neighbour share of given) - 3 log(pair excess); lower = more suspicious
    self_confidence: float  # the model's probability of the given label
    neighbour_agreement: float  # smoothed share of the k nearest feature-space neighbours that carry the given label
    suggested_prob: float  # the model's probability of the suggested class
    rank: int = 0  # 1 = most suspicious; the order of LabelIssues.suspects
    in_excess_pair: bool = False  # (given, suggested) is a pair with a significant excess of conflicts


@dataclass(frozen=True)
class NoiseExcess:
    """More images labelled ``given`` that the calibrated model firmly places in ``suggested`` than chance.

    ``expected`` is what a calibrated model predicts if every label were right (each image's label
    drawn from its calibrated probabilities); ``observed`` is the actual count. Real ambiguity makes
    some pairs exceed that even with correct labels, so the test's null is overdispersed: pair counts
    scatter around ``scale * expected`` with the spread that the pairs of this data set show
    (negative binomial; ``expected_null`` is that mean).
    """

    given: str
    suggested: str
    observed: int
    expected: float
    p_value: float  # negative-binomial upper tail under the overdispersed null
    q_value: float  # Benjamini-Hochberg over all (given, suggested) pairs
    expected_null: float = 0.0  # scale * expected: what ambiguity alone would give on a typical pair
    real_share: float = 0.0  # (observed - expected_null) / observed: the share likely to be real label errors
    real_share_low: float = 0.0  # the same with the null's 95th percentile: a conservative share


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
    scale: float = 1.0  # observed / expected over the pairs without excess: the model's miscalibration on low labels
    dispersion: float = 0.0  # negative-binomial alpha of the pair counts (variance = mu + alpha mu^2)
    neighbour_support: float = float("nan")  # share of the excess pairs' images whose neighbours reject the label


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
