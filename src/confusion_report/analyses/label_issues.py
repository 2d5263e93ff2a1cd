"""Images whose given label is probably wrong, ranked so that the top of the list is right.

* :func:`confident_learning` — the baseline (Northcutt et al., cleanlab's simplest form): per-class
  thresholds ``t_j`` = mean probability of class j over images labelled j; an image is flagged when
  some other class reaches its threshold (the most probable such class wins); rank by the model's
  probability of the given label (self-confidence), lowest first.
* :func:`rank_suspects` — the same flagged set, ranked with two more pieces of evidence:
  1. the labels of the image's k nearest neighbours in feature space: the score is
     ``log p(given) + 0.25 * log(neighbour share of given)``, so an image that its neighbours also
     reject ranks above one whose neighbours carry its label;
  2. the (given, suggested) pairs where confidently contradicted labels are significantly more
     frequent than a recalibrated model expects under correct labels (:func:`noise_excess`), with an
     overdispersed null: genuinely ambiguous pairs (cat/dog) exceed the calibrated expectation even
     with correct labels, so a pair counts only when it stands out from the spread of all pairs.
     Suspects of such pairs get a bonus of ``3 * log(observed / expected under that null)`` — soft,
     so the pair never outranks an image the model and its neighbours reject much more firmly.
  Measured (benchmarks/bench_label_noise.py) on real human label noise (CIFAR-10N) it matches the
  baseline's precision@k within one image, and on noise concentrated in two pairs (planted-dev/noise)
  it is above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results import LabelIssues, LabelSuspect, NoiseExcess
from .neighbour_labels import neighbour_index, neighbour_label_distribution
from .predictions import Predictions, softmax

K_NEIGHBOURS = 10
EXCESS_THRESHOLD = 0.05
EXCESS_MAX_Q = 0.001
EXCESS_MIN_COUNT = 5
EXCESS_MIN_RATIO = 2.0  # observed / expected under the overdispersed null
NEIGHBOUR_WEIGHT = 0.25  # measured on CIFAR-10N: 0.5 cost one image at some k against the baseline, 0.25 none
PAIR_WEIGHT = 3.0  # measured: 1 and 2 leave most of the planted-pair gain, 5 and 10 start to cost on CIFAR-10N
MIN_DISPERSION = 0.02  # never assume the pairs scatter less than a Poisson with 2% extra variance
REJECTED = 0.5  # a neighbourhood "rejects" a label when fewer than half of the neighbours carry it


def confident_learning(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline: the flagged mask and the flagged indices ranked by self-confidence (lowest first)."""
    n, c = probs.shape
    thresholds = np.array(
        [probs[labels == j, j].mean() if np.any(labels == j) else 1.0 for j in range(c)], dtype=np.float64
    )
    above = probs >= thresholds[None, :]
    masked = np.where(above, probs, -1.0)
    assigned = masked.argmax(axis=1)
    flagged = above.any(axis=1) & (assigned != labels)
    self_conf = probs[np.arange(n), labels]
    ranked = np.flatnonzero(flagged)
    ranked = ranked[np.argsort(self_conf[ranked], kind="stable")]
    return flagged, ranked


def neighbour_view(
    embeddings: np.ndarray | None,
    labels: np.ndarray,
    n_classes: int,
    *,
    k: int = K_NEIGHBOURS,
    neighbours: np.ndarray | None = None,
):
    """The smoothed label distribution of each image's k nearest neighbours, or None without embeddings.

    ``neighbours`` (indices, nearest first, at least k columns) reuses a kNN computed elsewhere.
    """
    if embeddings is None or len(labels) <= k:
        return None
    idx = neighbours[:, :k] if neighbours is not None else neighbour_index(embeddings, k)
    return neighbour_label_distribution(idx, labels, n_classes)


def rank_suspects(
    logits: np.ndarray,
    embeddings: np.ndarray | None,
    labels: np.ndarray,
    names: tuple[str, ...],
    *,
    k: int = K_NEIGHBOURS,
    neighbours: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, list[NoiseExcess], float, ExcessTest]:
    """Flagged images, most suspicious first (see the module docstring).

    Returns the ranked indices, the score per image (lower = more suspicious; the pair bonus included),
    the neighbour view, the suggested class per image, the significant excess pairs, the fitted
    temperature and the whole excess test.
    """
    probs = softmax(logits)
    n, c = probs.shape
    rows = np.arange(n)
    flagged, _ = confident_learning(probs, labels)
    nbr = neighbour_view(embeddings, labels, c, k=k, neighbours=neighbours)
    own = probs[rows, labels].copy()
    probs[rows, labels] = -1.0  # the most probable class other than the label, without a copy
    suggested = probs.argmax(axis=1)
    probs[rows, labels] = own
    del probs
    score = np.log(np.clip(own, 1e-12, 1.0))
    if nbr is not None:
        score = score + NEIGHBOUR_WEIGHT * np.log(nbr[rows, labels])
    test = noise_excess(logits, labels, names)
    significant = significant_pairs(test.pairs)
    bonus = np.zeros((c, c))
    for e in significant:
        bonus[names.index(e.given), names.index(e.suggested)] = np.log(e.observed / max(e.expected_null, 1e-9))
    score = score - PAIR_WEIGHT * bonus[labels, suggested]
    cand = np.flatnonzero(flagged)
    ranked = cand[np.argsort(score[cand], kind="stable")]
    return ranked, score, nbr, suggested, significant, test.temperature, test


def significant_pairs(pairs: list[NoiseExcess]) -> list[NoiseExcess]:
    """The pairs whose excess is significant, large enough to matter and well above the overdispersed null."""
    return [
        e
        for e in pairs
        if e.q_value <= EXCESS_MAX_Q
        and e.observed >= EXCESS_MIN_COUNT
        and e.observed >= EXCESS_MIN_RATIO * e.expected_null
    ]


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Temperature and per-class bias minimising the NLL of the given labels (vector scaling, shared slope).

    A per-class bias absorbs a model that favours one class; a temperature absorbs global
    over-confidence. Neither can single out a few images, which is what label errors are.
    """
    from scipy.optimize import minimize

    n, c = np.shape(logits)
    if c > MANY_CLASSES:
        return _fit_calibration_many(np.asarray(logits), labels)
    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(n)

    def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
        t = np.exp(w[0])
        s = z / t + np.r_[0.0, w[1:]][None, :]
        s = s - s.max(axis=1, keepdims=True)
        lse = np.log(np.exp(s).sum(axis=1))
        g = np.exp(s - lse[:, None])
        g[rows, labels] -= 1.0
        g /= n
        return float(-(s[rows, labels] - lse).mean()), np.r_[(g * (-z / t)).sum(), g.sum(axis=0)[1:]]

    res = minimize(nll, np.zeros(c), jac=True, method="L-BFGS-B", bounds=[(-3.0, 3.0)] + [(-10.0, 10.0)] * (c - 1))
    return float(np.exp(res.x[0])), np.r_[0.0, res.x[1:]]


# Above this many classes L-BFGS over one bias per class needs hundreds of full softmax passes (minutes
# at 50,000 images x 1,000 classes); the fixed-point below reaches the same optimum in a few.
MANY_CLASSES = 100


def _fit_calibration_many(
    z: np.ndarray, labels: np.ndarray, *, rounds: int = 2, bias_steps: int = 4
) -> tuple[float, np.ndarray]:
    """The optimum of :func:`fit_calibration` by alternating a 1-D temperature search and bias fixed points.

    At the optimum the biases make each class's mean calibrated probability equal its label share
    (the NLL's gradient in the bias); ``b += log(label share / mean probability)`` is the classic
    prior-correction step towards it (Saerens et al., 2002). Float32 halves the cost of each pass.
    """
    from scipy.optimize import minimize_scalar

    n, c = z.shape
    z32 = np.asarray(z, dtype=np.float32)  # the pass's logits are float32 already: no copy
    share = np.bincount(labels, minlength=c).astype(np.float64) / n
    present = share > 0
    bias = np.zeros(c, dtype=np.float32)

    buf = np.empty_like(z32)  # one N x C buffer for every pass: fresh 200 MB arrays cost more in page faults

    def mean_probability(t: float) -> np.ndarray:
        """Per class, the mean over images of the calibrated probability (softmax of z / t + bias)."""
        np.divide(z32, np.float32(t), out=buf)
        np.add(buf, bias[None, :], out=buf)
        np.subtract(buf, buf.max(axis=1, keepdims=True), out=buf)
        np.exp(buf, out=buf)
        np.divide(buf, buf.sum(axis=1, keepdims=True), out=buf)
        return buf.mean(axis=0, dtype=np.float64)

    # The temperature is one number: a seeded sample of images pins it down at a fraction of the cost.
    sample = np.sort(np.random.default_rng(0).permutation(n)[: max(10_000, 2_000_000 // c)])
    z_sample, label_sample, rows = z32[sample], labels[sample], np.arange(len(sample))

    def nll(log_t: float) -> float:
        s = z_sample / np.float32(np.exp(log_t)) + bias[None, :]
        s -= s.max(axis=1, keepdims=True)
        return float(-(s[rows, label_sample] - np.log(np.exp(s).sum(axis=1))).mean())

    log_t = 0.0
    for _ in range(rounds):
        log_t = float(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded", options={"xatol": 1e-2}).x)
        for _ in range(bias_steps):
            mean_p = mean_probability(float(np.exp(log_t)))
            step = np.zeros(c)
            step[present] = np.log(share[present] / np.maximum(mean_p[present], 1e-300))
            bias = np.clip(bias + step, -10.0, 10.0).astype(np.float32)
            bias -= bias[0]  # class 0 is the reference, as in fit_calibration
            bias[~present] = -10.0  # where L-BFGS drives a class that no label has: its lower bound
    return float(np.exp(log_t)), bias.astype(np.float64)


@dataclass(frozen=True)
class ExcessTest:
    """The per-pair excess test: every tested pair, and the fitted calibration and null."""

    temperature: float
    pairs: list[NoiseExcess]  # strongest first
    scale: float  # observed / expected over the pairs without excess
    dispersion: float  # negative-binomial alpha
    low: np.ndarray  # per image: the calibrated probability of its label is at most the threshold
    suggested: np.ndarray  # per image: the calibrated model's most probable class other than the label


def overdispersed_null(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Scale, dispersion and upper-tail p-values of pair counts under an overdispersed null.

    Under correct labels a pair's count is Poisson with mean ``expected * r``, where ``r`` varies from
    pair to pair (how ambiguous the pair really is, how miscalibrated the model is there): a gamma
    with mean ``scale`` and variance ``dispersion * scale**2``, so the count is negative binomial.
    Both are estimated by moments over the pairs that do not stand out (a few pairs full of real
    label errors would otherwise inflate the spread and hide themselves), iterating until that set is
    stable.
    """
    from scipy.stats import nbinom, poisson

    from .significance import bh_qvalues

    o = np.asarray(observed, dtype=np.float64)
    e = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    keep = bh_qvalues(poisson.sf(o - 1, e)) > EXCESS_MAX_Q
    scale, alpha, pv = 1.0, MIN_DISPERSION, np.ones(len(o))
    for _ in range(10):
        if not keep.any():
            keep = np.ones(len(o), dtype=bool)
        scale = float(o[keep].sum() / e[keep].sum())
        mu = scale * e
        alpha = max(MIN_DISPERSION, float(((o - mu) ** 2 - mu)[keep].sum() / (mu[keep] ** 2).sum()))
        size = 1.0 / alpha
        pv = nbinom.sf(o - 1, size, size / (size + mu))
        new = bh_qvalues(pv) > 0.01
        if np.array_equal(new, keep):
            break
        keep = new
    return scale, alpha, pv


def noise_excess(
    logits: np.ndarray, labels: np.ndarray, names: tuple[str, ...], *, threshold: float = EXCESS_THRESHOLD
) -> ExcessTest:
    """Per (given, suggested) pair: images whose given label gets <= ``threshold`` from the calibrated model.

    Calibrate first (:func:`fit_calibration` on these labels), so an over-confident model, or one that
    favours a class, does not pass for label noise. If every label were right, image i would carry
    label a with probability p_ia, so the expected count for (a, b) is the sum of p_ia over images
    where p_ia <= threshold and b is the most probable class other than a. The observed count is
    tested against it under an overdispersed null (:func:`overdispersed_null`), Benjamini-Hochberg over
    all pairs with at least one observation; each pair's share of real label errors is estimated from
    its excess over the null's mean (and, conservatively, over its 95th percentile).
    """
    from scipy.stats import nbinom

    from .significance import bh_qvalues

    t, bias = fit_calibration(logits, labels)
    probs = softmax(np.asarray(logits, dtype=np.float32) / t + bias[None, :].astype(np.float32))
    n, c = probs.shape
    low = probs <= threshold
    # For each image and candidate given class a: the most probable other class b. The two most
    # probable classes by arg-max (first index on ties, as a stable sort would), without sorting rows.
    rows = np.arange(n)
    top = probs.argmax(axis=1)
    top_prob = probs[rows, top].copy()
    probs[rows, top] = -np.inf
    second = probs.argmax(axis=1)
    probs[rows, top] = top_prob
    # expected[a, b]: over images whose most probable class is b (a != b), or whose runner-up is b
    # (a most probable), the probability of a where it is low. Summed per most-probable class with
    # one sparse product (n x c adds, no copy) rather than one scan of all images per class.
    from scipy.sparse import csr_matrix

    probs[~low] = 0.0  # from here on only the low probabilities count
    by_top = csr_matrix((np.ones(n), (top, rows)), shape=(c, n))
    expected = np.asarray((by_top @ probs).T)
    np.fill_diagonal(expected, 0.0)
    np.add.at(expected, (top, second), probs[rows, top])
    del probs, by_top
    rows = np.arange(n)
    obs_mask = low[rows, labels]
    sugg = np.where(top == labels, second, top)
    observed = np.zeros((c, c), dtype=np.int64)
    np.add.at(observed, (labels[obs_mask], sugg[obs_mask]), 1)
    np.fill_diagonal(observed, 0)  # a suggestion is never the given class; keep the diagonal out of the tests
    given, suggested_cls = np.nonzero(observed)
    tested = list(zip(given.tolist(), suggested_cls.tolist(), strict=True))
    if not tested:
        return ExcessTest(t, [], 1.0, MIN_DISPERSION, obs_mask, sugg)
    # Vectorised: at 1,000 classes tens of thousands of pairs are tested.
    obs = observed[given, suggested_cls].astype(np.float64)
    exp = expected[given, suggested_cls].astype(np.float64)
    scale, alpha, pv = overdispersed_null(obs, exp)
    q = bh_qvalues(pv)
    size = 1.0 / alpha
    mu = scale * np.maximum(exp, 1e-12)
    upper = nbinom.ppf(0.95, size, size / (size + mu))
    out = [
        NoiseExcess(
            names[a],
            names[b],
            int(o),
            float(e),
            float(p),
            float(qv),
            expected_null=float(m),
            real_share=float(max(0.0, o - m) / o),
            real_share_low=float(max(0.0, o - u) / o),
        )
        for (a, b), o, e, p, qv, m, u in zip(tested, obs, exp, pv, q, mu, upper, strict=True)
    ]
    out.sort(key=lambda e: e.p_value)
    return ExcessTest(t, out, scale, alpha, obs_mask, sugg)


def find_label_issues(p: Predictions, *, k: int = K_NEIGHBOURS, neighbours: np.ndarray | None = None) -> LabelIssues:
    """Suspected label errors, every flagged image, most suspicious first (see the module docstring)."""
    probs = p.probs
    labels = p.labels
    ranked, score, nbr, suggested, significant, temperature, test = rank_suspects(
        p.logits, p.embeddings, labels, p.names, k=k, neighbours=neighbours
    )
    base_flagged, _ = confident_learning(probs, labels)
    in_pair = np.zeros((len(p.names),) * 2, dtype=bool)
    for e in significant:
        in_pair[p.names.index(e.given), p.names.index(e.suggested)] = True
    suspects = tuple(
        LabelSuspect(
            path=p.paths[i],
            given=p.names[labels[i]],
            suggested=p.names[suggested[i]],
            score=float(score[i]),
            self_confidence=float(probs[i, labels[i]]),
            neighbour_agreement=float(nbr[i, labels[i]]) if nbr is not None else float("nan"),
            suggested_prob=float(probs[i, suggested[i]]),
            rank=r + 1,
            in_excess_pair=bool(in_pair[labels[i], suggested[i]]),
        )
        for r, i in enumerate(ranked)
    )
    # The neighbours' verdict on the images behind the excess: an independent look (feature space, not
    # the classifier's head) at whether these labels are out of place.
    members = np.flatnonzero(test.low & in_pair[labels, test.suggested])
    support = float("nan")
    if nbr is not None and len(members):
        support = float(np.mean(nbr[members, labels[members]] < REJECTED))
    method = "confident learning, ranked by the model's probability of the label"
    method += f" and its share among the {k} nearest neighbours" if nbr is not None else ""
    method += ", with a bonus for pairs with an excess of label conflicts"
    return LabelIssues(
        method=method,
        k_neighbours=k if nbr is not None else 0,
        n_flagged=len(ranked),
        suspects=suspects,
        n_baseline_flagged=int(base_flagged.sum()),
        temperature=temperature,
        threshold=EXCESS_THRESHOLD,
        excess=tuple(significant),
        scale=test.scale,
        dispersion=test.dispersion,
        neighbour_support=support,
    )


def precision_at_k(ranked: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of the first ``k`` ranked indices that are in ``truth`` (a boolean mask over images)."""
    top = np.asarray(ranked)[:k]
    return float(truth[top].mean()) if len(top) else 0.0
