"""Pair two runs image by image and measure what changed (pure numpy and scipy; no torch, no rendering).

Every interval comes from one paired bootstrap over the common images, so the metrics' changes are
judged against the noise of *this* evaluation set, not two independent ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from ..analyses.calibration import N_BINS
from ..analyses.significance import bh_qvalues
from ..errors import ReportError
from ..findings.registry import SEVERITY_ORDER
from ..results import Finding, ImagePredictions, ReportData
from .results import ClassDelta, Comparison, ConfusionDelta, FindingChange, Flip, McNemar, MetricDelta, PairDelta

BOOTSTRAP = 1000
ALPHA = 0.05  # level of McNemar's test and false-discovery rate of the per-class tests
_EDGES = np.linspace(0.0, 1.0, N_BINS + 1)


@dataclass(frozen=True)
class Paired:
    """The common images of both runs, in BASE order, with labels and predictions on one class list."""

    classes: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    base_pred: np.ndarray
    new_pred: np.ndarray
    base_conf: np.ndarray
    new_conf: np.ndarray
    only_base: int
    only_new: int


def _images(run: ReportData, which: str) -> ImagePredictions:
    if run.images is None or not run.images.paths:
        raise ReportError(
            f"{which} has no per-image predictions (it was written by an older confusion-report); "
            "rebuild it with this version to diff it"
        )
    return run.images


def pair_images(base: ReportData, new: ReportData) -> Paired:
    """Match the images by relative path; refuse disjoint runs or runs that label an image differently."""
    b, n = _images(base, "BASE"), _images(new, "NEW")
    classes = tuple(dict.fromkeys((*b.classes, *n.classes)))
    index = {c: k for k, c in enumerate(classes)}
    b_map = np.array([index[c] for c in b.classes], dtype=np.int64)
    n_map = np.array([index[c] for c in n.classes], dtype=np.int64)
    n_pos = {p: k for k, p in enumerate(n.paths)}
    bi = np.array([k for k, p in enumerate(b.paths) if p in n_pos], dtype=np.int64)
    if len(bi) == 0:
        raise ReportError(
            f"BASE and NEW have no image in common ({len(b.paths)} and {len(n.paths)} images): "
            "diff two runs on the same data (paths relative to the data root must match)"
        )
    paths = tuple(b.paths[k] for k in bi)
    ni = np.array([n_pos[p] for p in paths], dtype=np.int64)
    labels_b = b_map[np.asarray(b.labels, dtype=np.int64)[bi]]
    labels_n = n_map[np.asarray(n.labels, dtype=np.int64)[ni]]
    differ = np.flatnonzero(labels_b != labels_n)
    if len(differ):
        k = differ[0]
        raise ReportError(
            f"BASE and NEW label {len(differ)} common image(s) differently (e.g. {paths[k]}: "
            f"{classes[labels_b[k]]} vs {classes[labels_n[k]]}); diff runs on the same labels"
        )
    return Paired(
        classes=classes,
        paths=paths,
        labels=labels_b,
        base_pred=b_map[np.asarray(b.preds, dtype=np.int64)[bi]],
        new_pred=n_map[np.asarray(n.preds, dtype=np.int64)[ni]],
        base_conf=np.asarray(b.confidence, dtype=np.float64)[bi],
        new_conf=np.asarray(n.confidence, dtype=np.float64)[ni],
        only_base=len(b.paths) - len(bi),
        only_new=len(n.paths) - len(bi),
    )


def _class_counts(labels: np.ndarray, preds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, support and predicted count per class."""
    right = labels == preds
    return (
        np.bincount(labels[right], minlength=k).astype(np.float64),
        np.bincount(labels, minlength=k).astype(np.float64),
        np.bincount(preds, minlength=k).astype(np.float64),
    )


def headline(labels: np.ndarray, preds: np.ndarray, conf: np.ndarray, k: int) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro F1 and ECE, defined as the report defines them.

    Macro F1 averages over the classes that occur as a label or a prediction (scikit-learn's default);
    balanced accuracy over the classes with support; ECE uses the report's 15 equal-width bins.
    """
    tp, support, predicted = _class_counts(labels, preds, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    return {
        "accuracy": float(tp.sum() / len(labels)),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present | (predicted > 0)].mean()),
        "ece": _ece(conf, labels == preds),
    }


def _ece(conf: np.ndarray, correct: np.ndarray) -> float:
    # The report's right-closed bins (lo, hi], found the same way so that the two ECEs agree.
    which = np.clip(np.searchsorted(_EDGES, conf, side="left") - 1, 0, N_BINS - 1)
    count = np.bincount(which, minlength=N_BINS)
    gap = np.bincount(which, weights=conf, minlength=N_BINS) - np.bincount(which, weights=correct, minlength=N_BINS)
    return float(np.abs(gap).sum() / max(count.sum(), 1))


METRICS = (
    ("accuracy", "accuracy", True),
    ("balanced_accuracy", "balanced accuracy", True),
    ("macro_f1", "macro F1", True),
    ("ece", "ECE (calibration error)", False),
)


def metric_deltas(p: Paired, *, bootstrap: int = BOOTSTRAP, seed: int = 0) -> tuple[MetricDelta, ...]:
    """Each headline metric on both runs and a 95% percentile interval of the paired difference."""
    k = len(p.classes)
    base = headline(p.labels, p.base_pred, p.base_conf, k)
    new = headline(p.labels, p.new_pred, p.new_conf, k)
    rng = np.random.default_rng(seed)
    n = len(p.labels)
    draws = {key: np.empty(bootstrap) for key, _, _ in METRICS}
    for b in range(bootstrap):
        idx = rng.integers(0, n, n)  # the same images for both runs: a paired resample
        y = p.labels[idx]
        hb = headline(y, p.base_pred[idx], p.base_conf[idx], k)
        hn = headline(y, p.new_pred[idx], p.new_conf[idx], k)
        for key in draws:
            draws[key][b] = hn[key] - hb[key]
    out = []
    for key, label, higher in METRICS:
        low, high = np.quantile(draws[key], [ALPHA / 2, 1 - ALPHA / 2]) if bootstrap else (np.nan, np.nan)
        out.append(
            MetricDelta(
                key=key,
                label=label,
                base=base[key],
                new=new[key],
                delta=new[key] - base[key],
                low=float(low),
                high=float(high),
                higher_is_better=higher,
            )
        )
    return tuple(out)


def mcnemar_p(right_to_wrong: int, wrong_to_right: int) -> float:
    """Two-sided exact McNemar test: under no change, each flip goes either way with probability 1/2."""
    total = right_to_wrong + wrong_to_right
    return 1.0 if total == 0 else float(binomtest(right_to_wrong, total, 0.5).pvalue)


def class_deltas(p: Paired) -> tuple[ClassDelta, ...]:
    """Recall and precision per class with support, worst recall change first (then worst precision)."""
    k = len(p.classes)
    tp_b, support, pred_b = _class_counts(p.labels, p.base_pred, k)
    tp_n, _, pred_n = _class_counts(p.labels, p.new_pred, k)
    right_b, right_n = p.base_pred == p.labels, p.new_pred == p.labels
    r2w = np.bincount(p.labels[right_b & ~right_n], minlength=k)
    w2r = np.bincount(p.labels[~right_b & right_n], minlength=k)
    present = np.flatnonzero(support > 0)
    p_values = np.array([mcnemar_p(int(r2w[c]), int(w2r[c])) for c in present])
    q_values = bh_qvalues(p_values)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec_b = np.where(pred_b > 0, tp_b / pred_b, 0.0)
        prec_n = np.where(pred_n > 0, tp_n / pred_n, 0.0)
    rows = [
        ClassDelta(
            name=p.classes[c],
            support=int(support[c]),
            recall_base=float(tp_b[c] / support[c]),
            recall_new=float(tp_n[c] / support[c]),
            precision_base=float(prec_b[c]),
            precision_new=float(prec_n[c]),
            right_to_wrong=int(r2w[c]),
            wrong_to_right=int(w2r[c]),
            p_value=float(pv),
            q_value=float(qv),
            significant=bool(qv < ALPHA),
        )
        for c, pv, qv in zip(present, p_values, q_values, strict=True)
    ]
    rows.sort(key=lambda r: (r.recall_delta, r.precision_delta, r.name))
    return tuple(rows)


def _matrix(labels: np.ndarray, preds: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(labels * k + preds, minlength=k * k).reshape(k, k)


def confusion_delta(p: Paired, base: ReportData) -> tuple[ConfusionDelta, tuple[PairDelta, ...], tuple[PairDelta, ...]]:
    """Both matrices in BASE's clustered order, and the directed pairs that grew or shrank."""
    k = len(p.classes)
    mb, mn = _matrix(p.labels, p.base_pred, k), _matrix(p.labels, p.new_pred, k)
    used = np.flatnonzero(mb.sum(axis=0) + mb.sum(axis=1) + mn.sum(axis=0) + mn.sum(axis=1) > 0)
    index = {c: k for k, c in enumerate(p.classes)}
    clustered = [index[base.confusion.classes[i]] for i in base.confusion.order if base.confusion.classes[i] in index]
    order_idx = [c for c in dict.fromkeys([*clustered, *used.tolist()]) if c in set(used.tolist())]
    sub = np.array(order_idx, dtype=np.int64)
    classes = tuple(p.classes[c] for c in sub)
    confusion = ConfusionDelta(
        classes=classes,
        base=tuple(tuple(int(v) for v in row) for row in mb[np.ix_(sub, sub)]),
        new=tuple(tuple(int(v) for v in row) for row in mn[np.ix_(sub, sub)]),
        order=tuple(range(len(sub))),
    )
    support = mb.sum(axis=1)
    changed = [
        PairDelta(p.classes[i], p.classes[j], int(mb[i, j]), int(mn[i, j]), int(support[i]))
        for i, j in zip(*np.nonzero(mb != mn), strict=True)
        if i != j
    ]
    worse = sorted((d for d in changed if d.delta > 0), key=lambda d: (-d.delta, -d.new, d.true, d.pred))
    better = sorted((d for d in changed if d.delta < 0), key=lambda d: (d.delta, d.new, d.true, d.pred))
    return confusion, tuple(worse), tuple(better)


def flips(p: Paired) -> tuple[McNemar, tuple[Flip, ...], tuple[Flip, ...]]:
    """McNemar's counts and the flipped images, most confident NEW prediction first."""
    right_b, right_n = p.base_pred == p.labels, p.new_pred == p.labels

    def listed(mask: np.ndarray) -> tuple[Flip, ...]:
        idx = np.flatnonzero(mask)
        idx = idx[np.lexsort((idx, -p.new_conf[idx]))]
        return tuple(
            Flip(
                path=p.paths[i],
                true=p.classes[p.labels[i]],
                base_pred=p.classes[p.base_pred[i]],
                new_pred=p.classes[p.new_pred[i]],
                base_confidence=float(p.base_conf[i]),
                new_confidence=float(p.new_conf[i]),
            )
            for i in idx
        )

    r2w, w2r = listed(right_b & ~right_n), listed(~right_b & right_n)
    changed = int((~right_b & ~right_n & (p.base_pred != p.new_pred)).sum())
    return McNemar(len(r2w), len(w2r), changed, mcnemar_p(len(r2w), len(w2r))), r2w, w2r


def finding_changes(base: tuple[Finding, ...], new: tuple[Finding, ...]) -> tuple[FindingChange, ...]:
    """Findings matched by (kind, classes): appeared, disappeared, or changed severity; most severe first."""

    def keyed(findings: tuple[Finding, ...]) -> dict[tuple[str, tuple[str, ...]], Finding]:
        out: dict[tuple[str, tuple[str, ...]], Finding] = {}
        for f in findings:
            out.setdefault((f.kind, tuple(sorted(f.classes))), f)
        return out

    kb, kn = keyed(base), keyed(new)
    changes = []
    for key, f in kn.items():
        if key not in kb:
            changes.append(FindingChange("appeared", f.kind, f.classes, f.title, None, f.severity))
        elif kb[key].severity != f.severity:
            changes.append(FindingChange("severity", f.kind, f.classes, f.title, kb[key].severity, f.severity))
    for key, f in kb.items():
        if key not in kn:
            changes.append(FindingChange("disappeared", f.kind, f.classes, f.title, f.severity, None))
    rank = {"appeared": 0, "severity": 1, "disappeared": 2}
    changes.sort(key=lambda c: (rank[c.change], SEVERITY_ORDER.get(c.new_severity or c.base_severity or "", 3)))
    return tuple(changes)


def compare(base: ReportData, new: ReportData, *, bootstrap: int = BOOTSTRAP, seed: int = 0) -> Comparison:
    """The whole comparison of NEW against BASE on their common images."""
    p = pair_images(base, new)
    warnings = []
    if p.only_base or p.only_new:
        warnings.append(
            f"The runs share {len(p.paths)} images; {p.only_base} only in BASE and {p.only_new} only in NEW "
            "are left out of the diff."
        )
    confusion, worse, better = confusion_delta(p, base)
    mcnemar, r2w, w2r = flips(p)
    return Comparison(
        n_common=len(p.paths),
        only_base=p.only_base,
        only_new=p.only_new,
        classes=p.classes,
        metrics=metric_deltas(p, bootstrap=bootstrap, seed=seed),
        mcnemar=mcnemar,
        per_class=class_deltas(p),
        confusion=confusion,
        worse_pairs=worse,
        better_pairs=better,
        right_to_wrong=r2w,
        wrong_to_right=w2r,
        findings=finding_changes(base.findings, new.findings),
        bootstrap=bootstrap,
        warnings=tuple(warnings),
    )
