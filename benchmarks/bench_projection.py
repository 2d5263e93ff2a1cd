"""Time the feature-space stage: UMAP's cold JIT warm-up, then projections of 10k and 50k points after it.

Synthetic embeddings (10 Gaussian classes in 64 dims, two of them overlapping, ~10% errors) stand in
for a model's penultimate features. Each figure is wall-clock seconds and process CPU seconds (the
machine may be shared). Run:

    PYTHONPATH=src python benchmarks/bench_projection.py            # umap, 10k and 50k points
    PYTHONPATH=src python benchmarks/bench_projection.py --methods umap,tsne,pca --sizes 10000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _embeddings(n: int, *, dim: int = 64, classes: int = 10, seed: int = 0):
    from confusion_report.analyses.predictions import Predictions

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (classes, dim))
    centres[1] = centres[0] + rng.normal(0, 1, dim)  # classes 0 and 1 overlap
    labels = rng.integers(0, classes, n)
    emb = np.maximum(centres[labels] + rng.normal(0, 2, (n, dim)), 0)  # ReLU-like features
    preds = np.where(rng.random(n) < 0.1, rng.integers(0, classes, n), labels)
    logits = np.zeros((n, classes), dtype=np.float32)
    logits[np.arange(n), preds] = 3.0
    return Predictions(
        names=tuple(f"c{k}" for k in range(classes)),
        paths=tuple(f"c{label}/{i}.png" for i, label in enumerate(labels)),
        labels=labels,
        logits=logits,
        embeddings=emb.astype(np.float32),
    )


class _Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:7.1f} s wall {self.cpu:7.1f} s cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000", help="comma-separated numbers of points")
    parser.add_argument("--methods", default="umap", help="comma-separated: umap, tsne, pca")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")

    from confusion_report.analyses import knn
    from confusion_report.analyses import projection as proj
    from confusion_report.analyses.knn import knn_graph

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if "umap" in methods:
        # Cold: a fresh process, so this is import + numba compilation of the path N >= 4096 takes.
        with _Clock() as cold:
            thread = proj.start_umap_warmup(max(sizes))
            thread.join()
        print(f"umap cold warm-up (import + JIT, background thread): {cold}")

    for n in sizes:
        p = _embeddings(n)
        for method in methods:
            with _Clock() as c:
                _, info = proj.project(p, method=method, max_points=n, seed=0)
            print(f"{method:4s} {n:6d} points, all projected:             {c}")
            if n > proj.MAX_POINTS:
                with _Clock() as c:
                    _, info = proj.project(p, method=method, seed=0)
                print(f"{method:4s} {n:6d} points, default sample of {info.n_points}: {c}")
        with _Clock() as c:
            knn_graph(knn.normalise(p.embeddings), k=10)
        print(f"k-NN graph (k=10, full 64-d embeddings) {n:6d} points:  {c}")


if __name__ == "__main__":
    main()
