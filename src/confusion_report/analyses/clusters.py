"""Groups of classes that are confused among themselves (community detection on the confusion graph)."""

from __future__ import annotations

import numpy as np

from ..results import Cluster, Confusion


def find_clusters(
    confusion: Confusion, *, min_share: float = 0.05, min_errors: int = 3, seed: int = 0
) -> tuple[Cluster, ...]:
    """Communities of the graph whose edge weights are the errors between two classes (both directions).

    Louvain modularity (networkx, seeded) splits the graph into groups that trade errors mostly among
    themselves; a cluster is kept when it has at least two classes and holds ``min_errors`` and
    ``min_share`` of all errors; a member must be involved in ``min_errors`` (and a tenth) of the
    cluster's errors. Largest error share first.

    Among many classes a real cluster holds a small share of all errors (ten confused dog breeds
    among 1,000 classes), so above 50 classes ``min_share`` shrinks as 50 / classes.
    """
    import networkx as nx

    counts = np.asarray(confusion.counts, dtype=np.int64)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    total = int(off.sum())
    if total == 0:
        return ()
    min_share = min_share * min(1.0, 50 / len(counts))
    mutual = off + off.T
    graph = nx.Graph()
    graph.add_nodes_from(range(len(counts)))
    for i, j in zip(*np.nonzero(np.triu(mutual, 1)), strict=True):
        graph.add_edge(int(i), int(j), weight=int(mutual[i, j]))
    communities = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    clusters = []
    for community in communities:
        members = np.array(sorted(community))
        # Louvain attaches a class with a single stray error to some community; keep only members
        # that take a real part in the cluster's errors.
        inner = off[np.ix_(members, members)]
        involvement = inner.sum(axis=0) + inner.sum(axis=1)
        members = members[involvement >= max(min_errors, 0.1 * inner.sum())]
        if len(members) < 2:
            continue
        inner = off[np.ix_(members, members)]
        errors = int(inner.sum())
        if errors < min_errors or errors < min_share * total:
            continue
        # Members listed by how many errors they share inside the cluster, most first.
        weight = inner.sum(axis=0) + inner.sum(axis=1)
        members = members[np.argsort(-weight, kind="stable")]
        clusters.append(Cluster(tuple(confusion.classes[i] for i in members), errors, errors / total))
    clusters.sort(key=lambda c: (-c.errors, c.classes))
    return tuple(clusters)
