"""Metrics, confusion, pairs and clusters equal scikit-learn's figures on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from confusion_report.analyses.clusters import find_clusters
from confusion_report.analyses.confusion import cluster_order, compute_confusion
from confusion_report.analyses.metrics import compute_metrics
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions


def _random_predictions(n: int = 600, classes: int = 8, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(0, 1, (n, classes))
    logits[np.arange(n), labels] += rng.uniform(0, 3, n)  # mostly right, sometimes wrong
    names = tuple(f"c{k}" for k in range(classes))
    return Predictions(names=names, paths=tuple(f"img{i}.png" for i in range(n)), labels=labels, logits=logits)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_scikit_learn(seed: int) -> None:
    """Accuracy, balanced accuracy, macro F1, top-5 and per-class P/R/F1/support match sklearn."""
    p = _random_predictions(seed=seed)
    m = compute_metrics(p)
    y, yhat = p.labels, p.preds
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, yhat))
    assert m.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, yhat))
    assert m.macro_f1 == pytest.approx(skm.f1_score(y, yhat, average="macro"))
    assert m.top5 == pytest.approx(skm.top_k_accuracy_score(y, p.logits, k=5, labels=np.arange(8)))
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, yhat, zero_division=0)
    assert [c.precision for c in m.per_class] == pytest.approx(prec)
    assert [c.recall for c in m.per_class] == pytest.approx(rec)
    assert [c.f1 for c in m.per_class] == pytest.approx(f1)
    assert [c.support for c in m.per_class] == list(support)
    assert m.n_errors == int((y != yhat).sum())


def test_confusion_counts_equal_scikit_learn_over_present_labels() -> None:
    """Counts are sklearn's confusion_matrix over the labels that occur; a never-seen class is left out."""
    p = _random_predictions(classes=6)
    p = Predictions(
        names=(*p.names, "unused"),
        paths=p.paths,
        labels=p.labels,
        logits=np.concatenate([p.logits, np.full((len(p.labels), 1), -99.0)], axis=1),
    )
    c = compute_confusion(p)
    assert c.classes == tuple(f"c{k}" for k in range(6))
    assert np.array_equal(np.asarray(c.counts), skm.confusion_matrix(p.labels, p.preds))
    assert sorted(c.order) == list(range(6))


def test_top5_is_absent_for_five_classes_or_fewer() -> None:
    """Top-5 accuracy only applies with more than five classes."""
    assert compute_metrics(_random_predictions(classes=5)).top5 is None


def _blocks_confusion() -> np.ndarray:
    # Classes 0, 3, 5 confuse each other; 1, 4 confuse each other; 2 is clean.
    counts = np.diag([50] * 6)
    for a, b, k in [(0, 3, 9), (3, 5, 8), (5, 0, 7), (1, 4, 6), (4, 1, 5), (2, 1, 1)]:
        counts[a, b] = k
    return counts


def test_cluster_order_puts_mutually_confused_classes_side_by_side() -> None:
    """The display order keeps {0, 3, 5} and {1, 4} contiguous."""
    order = list(cluster_order(_blocks_confusion()))
    pos = {c: order.index(c) for c in range(6)}
    assert max(pos[c] for c in (0, 3, 5)) - min(pos[c] for c in (0, 3, 5)) == 2
    assert abs(pos[1] - pos[4]) == 1


def test_clusters_are_the_planted_groups_with_their_error_share() -> None:
    """Community detection finds {0, 3, 5} (24 of 36 errors) and {1, 4} (11 errors)."""
    from confusion_report.results import Confusion

    counts = _blocks_confusion()
    confusion = Confusion(
        classes=tuple(f"k{i}" for i in range(6)), counts=tuple(map(tuple, counts.tolist())), order=tuple(range(6))
    )
    clusters = find_clusters(confusion)
    assert [set(c.classes) for c in clusters] == [{"k0", "k3", "k5"}, {"k1", "k4"}]
    assert clusters[0].errors == 24 and clusters[0].error_share == pytest.approx(24 / 36)


def test_pairs_are_ranked_with_rates_reverse_counts_and_confident_examples_first() -> None:
    """Pairs come most errors first; rate is over the true class; examples are the most confident errors."""
    names = ("a", "b", "c")
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    preds = np.array([1, 1, 1, 0, 0, 1, 1, 2])
    conf = np.array([0.6, 0.9, 0.7, 0.9, 0.8, 0.9, 0.55, 0.9])
    logits = np.full((8, 3), -5.0)
    logits[np.arange(8), preds] = np.log(conf / (1 - conf))  # higher confidence, higher logit
    p = Predictions(names=names, paths=tuple(f"p{i}" for i in range(8)), labels=labels, logits=logits)
    pairs = rank_pairs(p)
    assert [(q.true, q.pred, q.count) for q in pairs] == [("a", "b", 3), ("b", "a", 1), ("c", "b", 1)]
    assert pairs[0].rate == pytest.approx(3 / 4) and pairs[0].reverse_count == 1
    assert pairs[0].error_share == pytest.approx(3 / 5)
    assert pairs[0].examples == ("p1", "p2", "p0")
    assert pairs[0].anchor == "pair-a-b"
    assert [q.true for q in rank_pairs(p, focus=["c"])] == ["c"]


def test_anchors_stay_unique_when_names_slug_alike() -> None:
    """'A b' and 'a-b' slug alike; their pair anchors still differ."""
    names = ("A b", "a-b", "z")
    labels = np.array([0, 1])
    logits = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, 5.0]])
    p = Predictions(names=names, paths=("x", "y"), labels=labels, logits=logits)
    anchors = [q.anchor for q in rank_pairs(p)]
    assert len(set(anchors)) == 2
