"""The k-nearest-neighbour graph: exact for small sets, searched cell by cell above a size, with its recall."""

from __future__ import annotations

import numpy as np

from confusion_report.analyses.knn import knn_graph, normalise


def _clustered(n_clusters: int, per: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 4
    return normalise(np.repeat(centres, per, axis=0) + rng.normal(size=(n_clusters * per, dim)))


def test_cell_search_on_clustered_embeddings_finds_almost_every_exact_neighbour() -> None:
    """3,000 points in 60 clusters, forced into the cell search: recall >= 0.95, and it agrees with the exact graph."""
    unit = _clustered(60, 50)
    exact = knn_graph(unit, k=10)
    cells = knn_graph(unit, k=10, exact_max=100)
    assert exact.recall is None and cells.recall is not None and cells.recall >= 0.95
    overlap = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(exact.index, cells.index, strict=True)])
    assert overlap >= 0.95
    assert not np.any(cells.index == np.arange(len(unit))[:, None])  # never its own neighbour
    assert np.all(np.diff(cells.similarity, axis=1) <= 1e-6)  # most similar first
    same = exact.index == cells.index
    np.testing.assert_allclose(cells.similarity[same], exact.similarity[same], atol=1e-5)


def test_embeddings_without_clusters_fall_back_to_the_exact_search() -> None:
    """Uniform noise in 64 dimensions has no cells worth probing: the answer is the exact graph (recall None)."""
    unit = normalise(np.random.default_rng(1).normal(size=(2000, 64)))
    graph = knn_graph(unit, k=5, exact_max=100)
    assert graph.recall is None
    np.testing.assert_array_equal(graph.index, knn_graph(unit, k=5).index)
