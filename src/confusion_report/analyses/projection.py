"""2-D projection of the embeddings for the chart: PCA to ~50 dims, then PCA (default), UMAP or t-SNE.

Seeded and reproducible. PCA is the default because it is the one layout that costs well under the
5 s budget at 10,000 points on 2 cores in a fresh process: umap-learn compiles its numba kernels in
every new process (most of them are not cached; measured 44 s to import and 222 s for the first fit of
10k points on a busy 2-core box, 40 s for a second fit in the same process, because a seeded UMAP runs
its layout on one thread). The chart only illustrates; the neighbour statistics are computed in the
full embedding space whatever the projection. With ``--projection umap`` on a machine with spare cores
(a GPU pass or 8+ cores), :func:`start_umap_warmup` compiles the kernels in a background thread while
the pass runs and :func:`project` waits for it; on a small CPU the compilation runs after the pass, so
that it does not slow the pass down. For very large N a stratified sample that keeps every error is
projected (:func:`stratified_sample`).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..results import Projection, ProjectionInfo
from .knn import normalise
from .predictions import Predictions

METHODS = ("umap", "tsne", "pca")
PCA_DIMS = 50
MAX_POINTS = 20_000
# Below this many points UMAP's neighbour graph says little and its JIT compile costs more than the
# whole build: PCA draws the chart instead (the report names the method used).
MIN_UMAP_POINTS = 200
# umap-learn switches from exact neighbours to NN-descent at 4096 points; the warm-up compiles that path.
UMAP_APPROX_FROM = 4096
UMAP_EPOCHS = 200  # umap-learn's own default above 10k points; 500 below costs 2.5x for little gain

_warmup_lock = threading.Lock()
_warmup_thread: threading.Thread | None = None
_warmup_state: dict[str, float | str | None] = {"seconds": None, "error": None}


def _warm_umap(approximate: bool) -> None:
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap

            x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
            umap.UMAP(
                n_neighbors=5, n_epochs=5, random_state=0, force_approximation_algorithm=approximate, init="random"
            ).fit_transform(x)
    except Exception as exc:  # the real fit will raise it again, with its own traceback
        _warmup_state["error"] = repr(exc)
    _warmup_state["seconds"] = time.perf_counter() - started


def start_umap_warmup(n_points: int) -> threading.Thread | None:
    """Compile the numba functions that a UMAP of ``n_points`` will use, in a daemon thread (once per process).

    None when umap is missing or ``n_points`` is too few for UMAP (PCA draws those).
    """
    global _warmup_thread
    if n_points < MIN_UMAP_POINTS:
        return None
    with _warmup_lock:
        if _warmup_thread is None:
            try:
                import importlib.util

                if importlib.util.find_spec("umap") is None:
                    return None
            except (ImportError, ValueError):
                return None
            _warmup_thread = threading.Thread(
                target=_warm_umap,
                args=(min(n_points, MAX_POINTS) >= UMAP_APPROX_FROM,),
                name="umap-warmup",
                daemon=True,
            )
            _warmup_thread.start()
        return _warmup_thread


def spare_cores(device_type: str) -> bool:
    """Whether a background compilation can run beside the pass without slowing it: a GPU pass leaves the
    CPU mostly idle, and 8 or more cores leave room; on fewer the compiler takes the pass's cores."""
    import os

    return device_type == "cuda" or (os.cpu_count() or 1) >= 8


def warmup_seconds() -> float | None:
    """How long the background compilation took, once it has finished."""
    value = _warmup_state["seconds"]
    return None if value is None else float(value)


def stratified_sample(labels: np.ndarray, errors: np.ndarray, *, max_points: int, seed: int) -> np.ndarray:
    """Indices of at most ``max_points`` images: every error, and correct images of each class in proportion.

    When there are more errors than ``max_points`` the errors themselves are sampled per class.
    Returned sorted; all indices when N is within the budget.
    """
    n = len(labels)
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    err_idx = np.flatnonzero(errors)
    ok_idx = np.flatnonzero(~errors)
    if len(err_idx) >= max_points:
        return np.sort(_proportional(err_idx, labels[err_idx], max_points, rng))
    budget = max_points - len(err_idx)
    chosen = _proportional(ok_idx, labels[ok_idx], budget, rng)
    return np.sort(np.concatenate([err_idx, chosen]))


def _proportional(idx: np.ndarray, groups: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """``budget`` of ``idx``, each group represented in proportion to its size (largest remainders)."""
    values, counts = np.unique(groups, return_counts=True)
    share = counts * budget / counts.sum()
    take = np.floor(share).astype(int)
    rest = budget - take.sum()
    if rest > 0:
        take[np.argsort(-(share - take), kind="stable")[:rest]] += 1
    picked = [rng.choice(idx[groups == v], size=t, replace=False) for v, t in zip(values, take, strict=True) if t]
    return np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class _Reduced:
    data: np.ndarray
    pca_dims: int | None


def _pca(x: np.ndarray, dims: int, seed: int) -> _Reduced:
    from threadpoolctl import threadpool_limits

    if x.shape[1] <= dims or len(x) <= dims:
        return _Reduced(x, None)
    # One BLAS thread: measured faster on 2 cores even at 10,000 x 512 (0.27 s vs 0.95 s), and 100x faster
    # for small inputs on a busy machine, where OpenBLAS's threads spin against each other.
    with threadpool_limits(limits=1, user_api="blas"):
        reduced = principal_components(x, dims, seed=seed)
    return _Reduced(reduced, dims)


EXACT_PCA_MAX_DIM = 512


def principal_components(x: np.ndarray, dims: int, *, seed: int = 0) -> np.ndarray:
    """The centred rows of ``x`` on their first ``dims`` principal axes (float32), each axis's sign fixed so
    that its largest loading is positive (a stable picture from run to run).

    numpy, not scikit-learn (whose import alone cost about 1 s of every cold start): exact from the d x d
    covariance up to :data:`EXACT_PCA_MAX_DIM` dimensions; above it a randomized range finder with power
    iterations, as scikit-learn's randomized PCA does: its axes agree with the exact ones to rounding where
    the leading variances stand apart (tested); where they do not, no two axes are the principal ones."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    d = x.shape[1]
    dims = min(dims, d, len(x))
    if d <= EXACT_PCA_MAX_DIM:
        _, vectors = np.linalg.eigh(x.T @ x)
        axes = vectors[:, ::-1][:, :dims]
    else:
        q = x @ np.random.default_rng(seed).standard_normal((d, dims + 10))
        for _ in range(7):
            q = x @ (x.T @ np.linalg.qr(q)[0])
        q = np.linalg.qr(q)[0]
        axes = np.linalg.svd(q.T @ x, full_matrices=False)[2][:dims].T
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(dims)])
    return (x @ (axes * np.where(signs == 0, 1.0, signs))).astype(np.float32)


def _fit_2d(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    n = len(x)
    if n < 3:
        return np.zeros((n, 2), dtype=np.float32)
    if method == "pca" or n < 10 or x.shape[1] < 2:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            out = principal_components(x, 2, seed=seed)
        return np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
        return (
            TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=None)
            .fit_transform(x)
            .astype(np.float32)
        )
    import umap

    with warnings.catch_warnings():
        # "n_jobs overridden to 1 by setting random_state": reproducibility is the point here.
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(
            n_components=2, n_neighbors=min(15, n - 1), min_dist=0.1, n_epochs=UMAP_EPOCHS, random_state=seed
        )
        return reducer.fit_transform(x).astype(np.float32)


def _six_digits(values: np.ndarray) -> np.ndarray:
    """Round as the results JSON does (6 significant digits), so a re-rendered chart is identical."""
    from ..serde import round_json_float

    return np.array([round_json_float(float(v)) for v in np.asarray(values, dtype=np.float64)])


def project(
    p: Predictions, *, method: str = "umap", max_points: int = MAX_POINTS, seed: int = 0
) -> tuple[Projection, ProjectionInfo]:
    """Project the (centred, normalised, PCA-reduced) embeddings of ``p`` to 2-D.

    Raises ``ValueError`` when ``p`` has no embeddings or ``method`` is unknown.
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    if p.embeddings is None:
        raise ValueError("no embeddings to project")
    started = time.perf_counter()
    preds = p.preds
    errors = preds != p.labels
    keep = stratified_sample(p.labels, errors, max_points=max_points, seed=seed)
    reduced = _pca(normalise(p.embeddings[keep]), PCA_DIMS, seed)
    used = "pca" if method == "umap" and len(keep) < MIN_UMAP_POINTS else method
    waited = 0.0
    if used == "umap" and _warmup_thread is not None:
        t = time.perf_counter()
        _warmup_thread.join()
        waited = time.perf_counter() - t
    xy = _fit_2d(reduced.data, used, seed)
    probs = p.probs[keep]
    projection = Projection(
        method=used,
        names=p.names,
        paths=tuple(p.paths[i] for i in keep),
        labels=p.labels[keep],
        preds=preds[keep],
        confidence=_six_digits(probs[np.arange(len(keep)), preds[keep]]),
        x=_six_digits(xy[:, 0]),
        y=_six_digits(xy[:, 1]),
    )
    info = ProjectionInfo(
        method=used,
        n_points=len(keep),
        n_total=len(p.labels),
        n_errors=int(errors[keep].sum()),
        sampled=len(keep) < len(p.labels),
        pca_dims=reduced.pca_dims,
        seed=seed,
        seconds=time.perf_counter() - started,
        warmup_seconds_waited=waited,
        requested=method,
    )
    return projection, info
