"""ambiguous_errors: a pair's errors are mostly borderline (low margin) or mostly sure and wrong."""

from __future__ import annotations

import numpy as np

from ..analyses.predictions import softmax_stats
from ..analyses.significance import bh_qvalues, binom_greater, strength
from ..results import Finding
from .inputs import FindingInputs
from .text import pct, pval

MIN_ERRORS = 15
LOW_MARGIN = 0.2  # top-1 minus top-2 probability: the model could have gone either way
HIGH_CONFIDENCE = 0.9  # the model is sure and wrong
MIN_SHARE = 0.5
MAX_Q = 0.001
TOP_PAIRS = 10


def rule(inp: FindingInputs) -> Finding | None:
    """For each top pair, compare its share of low-margin and of high-confidence errors with all other errors.

    One-sided binomial tests (pair share vs the share among the remaining errors), Benjamini-Hochberg
    over both modes and all pairs tested (q <= 0.001: borderline errors are the normal state of a
    calibrated model); a mode needs >= 50% of the pair's errors. The strongest fires.
    """
    p = inp.predictions
    if p is None:
        return None
    probs = p.probs
    preds = probs.argmax(axis=1)
    conf, _, margin = softmax_stats(probs, p.labels)
    wrong = preds != p.labels
    names = list(p.names)
    cands = []
    for pr in inp.pairs[:TOP_PAIRS]:
        if pr.count < MIN_ERRORS:
            continue
        m = wrong & (p.labels == names.index(pr.true)) & (preds == names.index(pr.pred))
        rest = wrong & ~m
        if rest.sum() < MIN_ERRORS:
            continue
        for mode, flag in (("ambiguous", margin < LOW_MARGIN), ("systematic", conf >= HIGH_CONFIDENCE)):
            k, n = int((flag & m).sum()), int(m.sum())
            base = float((flag & rest).sum() / rest.sum())
            # Every test enters the correction, also those whose effect is too small to report.
            cands.append((pr, mode, k, n, base, binom_greater(k, n, base), np.flatnonzero(flag & m)))
    if not cands:
        return None
    q = bh_qvalues([c[5] for c in cands])
    ok = [(c, qv) for c, qv in zip(cands, q, strict=True) if qv <= MAX_Q and c[2] / c[3] >= MIN_SHARE]
    if not ok:
        return None
    (pr, mode, k, n, base, pv, idx), qv = min(ok, key=lambda t: t[0][5])
    order = idx[np.argsort(-conf[idx] if mode == "systematic" else margin[idx], kind="stable")]
    if mode == "systematic":
        title = f"{pr.true} → {pr.pred}: the model is sure and wrong"
        text = (
            f"{k} of the {n} {pr.true} → {pr.pred} errors ({pct(k / n)}) have confidence ≥ {pct(HIGH_CONFIDENCE)}, "
            f"against {pct(base)} of the other errors (binomial {pval(pv)}). Systematic rather than borderline: "
            "consistent with a learnt cue that points to the wrong class, or with mislabelled images."
        )
    else:
        title = f"{pr.true} → {pr.pred}: borderline errors"
        text = (
            f"{k} of the {n} {pr.true} → {pr.pred} errors ({pct(k / n)}) are within a margin of "
            f"{LOW_MARGIN:g} between the top two classes, against {pct(base)} of the other errors "
            f"(binomial {pval(pv)}). The model hesitates between the two: consistent with genuinely "
            "ambiguous images rather than a systematic mistake."
        )
    return Finding(
        kind="ambiguous_errors",
        severity="medium" if mode == "systematic" else "low",
        title=title,
        text=text,
        classes=(pr.true, pr.pred),
        evidence={
            "mode": mode,
            "errors": n,
            "in_mode": k,
            "share": k / n,
            "share_other_errors": base,
            "threshold": HIGH_CONFIDENCE if mode == "systematic" else LOW_MARGIN,
            "p_value": pv,
            "q_value": float(qv),
            "anchor": pr.anchor,
            "section": "pairs",
            "strength": strength(pv),
        },
        examples=tuple(p.paths[i] for i in order[:8]),
    )
