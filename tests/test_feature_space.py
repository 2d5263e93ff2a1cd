"""Feature space: neighbour overlap, near-duplicates, projection and the embedding chart spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from confusion_report import build
from confusion_report.analyses.duplicates import dhash, find_duplicates
from confusion_report.analyses.knn import knn_graph, normalise
from confusion_report.analyses.neighbours import analyse_neighbours, cosine_silhouette, pair_overlap
from confusion_report.analyses.predictions import Predictions
from confusion_report.analyses.projection import project, stratified_sample
from confusion_report.render.charts import embedding_chart_spec
from confusion_report.results import Pair, Projection, ReportData


def _predictions(embeddings: np.ndarray, labels: np.ndarray, names, *, wrong: np.ndarray | None = None) -> Predictions:
    """Logits that predict the label, except where ``wrong`` is set (predicted as the next class)."""
    n, c = len(labels), len(names)
    preds = labels.copy() if wrong is None else np.where(wrong, (labels + 1) % c, labels)
    logits = np.zeros((n, c), dtype=np.float32)
    logits[np.arange(n), preds] = 4.0
    return Predictions(
        names=tuple(names),
        paths=tuple(f"{names[label]}/{i:04d}.png" for i, label in enumerate(labels)),
        labels=labels,
        logits=logits,
        embeddings=embeddings.astype(np.float32),
    )


def _blobs(seed: int = 0, per_class: int = 150, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Classes 0 and 1 from the same Gaussian (overlap by construction); class 2 far away from both."""
    rng = np.random.default_rng(seed)
    centre_shared = np.zeros(dim)
    centre_shared[0] = 6.0
    centre_far = np.zeros(dim)
    centre_far[1] = 6.0
    emb = np.concatenate(
        [
            rng.normal(centre_shared, 1.0, (per_class, dim)),
            rng.normal(centre_shared, 1.0, (per_class, dim)),
            rng.normal(centre_far, 1.0, (per_class, dim)),
        ]
    )
    labels = np.repeat(np.arange(3), per_class)
    return emb, labels


@pytest.mark.parametrize(("n_classes", "sample_size"), [(2, 2000), (2, 150), (4, 2000), (4, 97)])
def test_cosine_silhouette_equals_scikit_learns(n_classes: int, sample_size: int) -> None:
    """The closed-form silhouette matches scikit-learn's cosine silhouette, sampled or not."""
    from sklearn.metrics import silhouette_score

    emb, labels = _blobs(seed=3, per_class=120)
    labels = labels % n_classes if n_classes != 3 else labels
    labels[::7] = n_classes - 1  # uneven class sizes
    unit = normalise(emb)
    ours = cosine_silhouette(unit, labels, sample_size=sample_size, seed=5)
    theirs = silhouette_score(unit, labels, metric="cosine", sample_size=min(sample_size, len(unit)), random_state=5)
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_overlapping_classes_measure_as_overlapping_and_separate_classes_as_apart() -> None:
    """Two classes drawn from one Gaussian are 'overlapping'; a class far from both is 'apart'."""
    emb, labels = _blobs()
    names = ("cat", "dog", "ship")
    unit = normalise(emb)
    graph = knn_graph(unit, k=10)
    same = pair_overlap(unit, labels, graph, 0, 1, names=names)
    far = pair_overlap(unit, labels, graph, 0, 2, names=names)
    assert same.verdict == "overlapping" and same.mixing_ratio > 0.8 and abs(same.silhouette) < 0.1
    assert far.verdict == "apart" and far.mixing_ratio < 0.02 and far.silhouette > 0.5
    assert same.share_ab > 0.3 and far.share_ab < 0.02
    assert same.centroid_cosine > 0.9 > far.centroid_cosine


def test_neighbour_analysis_reports_classes_pairs_centroids_and_error_neighbours() -> None:
    """Per-class shares, each unordered pair once, the centroid matrix and neighbours of gallery errors."""
    emb, labels = _blobs(per_class=60)
    names = ("cat", "dog", "ship")
    p = _predictions(emb, labels, names)
    unit = normalise(emb)
    graph = knn_graph(unit, k=10)
    pairs = (
        Pair("cat", "dog", 5, 0.1, 0.5, 3, 0.6, "pair-cat-dog"),
        Pair("dog", "cat", 3, 0.05, 0.3, 5, 0.6, "pair-dog-cat"),
        Pair("cat", "ship", 1, 0.01, 0.1, 0, 0.6, "pair-cat-ship"),
    )
    fs = analyse_neighbours(p, unit, graph, pairs=pairs)
    assert [(o.a, o.b) for o in fs.pairs] == [("cat", "dog"), ("cat", "ship")]
    assert fs.pairs[0].errors == 8
    by_class = {c.name: c for c in fs.classes}
    assert by_class["cat"].nearest_class == "dog" and by_class["ship"].other_share < 0.05
    assert len(fs.centroid_cosine) == 3 and fs.centroid_cosine[0][0] == pytest.approx(1.0)
    assert (fs.similar_classes[0].a, fs.similar_classes[0].b) == ("cat", "dog")
    assert fs.k == 10


def _texture(seed: int, size: int = 32) -> Image.Image:
    """A random smooth texture: distinct per seed, so that only planted copies share a difference hash."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def test_planted_duplicates_are_found_and_different_labels_flagged(tmp_path: Path) -> None:
    """A copy filed under another class is a conflicting group, a resized copy in its own class a same-label group;
    two different pictures with equal embeddings are rejected by the pixel check."""
    names = ("airplane", "bird", "ship")
    labels = np.repeat(np.arange(3), 20)
    paths = []
    for i, label in enumerate(labels):
        rel = f"{names[label]}/{i:03d}.png"
        (tmp_path / names[label]).mkdir(exist_ok=True)
        _texture(i).save(tmp_path / rel)
        paths.append(rel)
    # Planted: image 3 (airplane) re-saved as JPEG under ship; image 25 (bird) upscaled copy under bird.
    _texture(3).save(tmp_path / "ship/copy_of_003.jpg", quality=90)
    _texture(25).resize((48, 48), Image.Resampling.BILINEAR).save(tmp_path / "bird/copy_of_025.png")
    paths += ["ship/copy_of_003.jpg", "bird/copy_of_025.png"]
    labels = np.concatenate([labels, [2, 1]])
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(len(labels), 32))
    emb[60] = emb[3] + rng.normal(0, 0.01, 32)
    emb[61] = emb[25] + rng.normal(0, 0.01, 32)
    emb[40] = emb[10]  # decoy: same embedding, different picture
    p = Predictions(
        names=names,
        paths=tuple(paths),
        labels=labels,
        logits=np.eye(3, dtype=np.float32)[labels] * 4,
        embeddings=emb.astype(np.float32),
    )
    graph = knn_graph(normalise(emb), k=5)
    hashes = {rel: dhash(Image.open(tmp_path / rel).convert("RGB")) for rel in paths}
    dup = find_duplicates(p, graph, image_hash=hashes.get)
    groups = {frozenset(m.path for m in g.members): g for g in dup.groups}
    assert set(groups) == {
        frozenset({"airplane/003.png", "ship/copy_of_003.jpg"}),
        frozenset({"bird/025.png", "bird/copy_of_025.png"}),
    }
    assert dup.groups[0].conflicting and dup.groups[0].labels == ("airplane", "ship")
    assert not groups[frozenset({"bird/025.png", "bird/copy_of_025.png"})].conflicting
    assert dup.n_conflicting == 1 and dup.candidate_pairs == 3 and dup.confirmed_pairs == 2


def test_stratified_sample_keeps_every_error_and_each_class() -> None:
    """Beyond the budget every error stays in, and correct images of each class in proportion."""
    labels = np.repeat(np.arange(4), 1000)
    errors = np.zeros(4000, dtype=bool)
    errors[::37] = True
    keep = stratified_sample(labels, errors, max_points=1000, seed=0)
    assert len(keep) == 1000 and set(np.flatnonzero(errors)) <= set(keep)
    assert np.all(np.bincount(labels[keep], minlength=4) > 200)
    assert np.array_equal(keep, stratified_sample(labels, errors, max_points=1000, seed=0))


@pytest.mark.parametrize("method", ["pca", pytest.param("tsne", marks=pytest.mark.slow)])
def test_projection_is_seeded_and_reproducible(method: str) -> None:
    """The same inputs and seed give the same 2-D coordinates; a sample is said to be one."""
    emb, labels = _blobs(per_class=40, dim=60)
    p = _predictions(emb, labels, ("a", "b", "c"), wrong=np.arange(len(labels)) % 10 == 0)
    proj1, info = project(p, method=method, max_points=100, seed=3)
    proj2, _ = project(p, method=method, max_points=100, seed=3)
    assert np.array_equal(proj1.x, proj2.x) and np.array_equal(proj1.y, proj2.y)
    assert info.sampled and info.n_points == 100 and info.n_total == 120 and info.n_errors == 12
    assert info.method == method and info.pca_dims == 50


@pytest.mark.slow
def test_umap_projection_is_reproducible_and_separates_far_classes() -> None:
    """UMAP with a seed repeats itself exactly, and the far class lands away from the two mixed ones."""
    emb, labels = _blobs(per_class=80)
    p = _predictions(emb, labels, ("a", "b", "c"))
    proj1, info = project(p, method="umap", seed=0)
    proj2, _ = project(p, method="umap", seed=0)
    assert info.method == "umap" and np.array_equal(proj1.x, proj2.x)
    xy = np.stack([proj1.x, proj1.y], axis=1)
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(3)])
    spread = xy.std(axis=0).mean()
    assert np.linalg.norm(centres[0] - centres[2]) > spread > np.linalg.norm(centres[0] - centres[1])


def test_chart_spec_holds_every_point_beyond_altairs_row_limit() -> None:
    """6,000 points all reach the spec, with a legend-bound selection, zoom and thumbnail tooltips."""
    n = 6000
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    preds = np.where(rng.random(n) < 0.1, (labels + 1) % 3, labels)
    proj = Projection(
        method="umap",
        names=("cat", "dog", "ship"),
        paths=tuple(f"img/{i}.png" for i in range(n)),
        labels=labels,
        preds=preds,
        confidence=rng.random(n).astype(np.float32),
        x=rng.normal(size=n).astype(np.float32),
        y=rng.normal(size=n).astype(np.float32),
    )
    spec = embedding_chart_spec(proj, {"img/7.png": "data:image/webp;base64,AAAA"}, emphasised=("cat", "dog"))
    rows = spec["datasets"]["points"]
    assert len(rows) == n and {r["path"] for r in rows} == set(proj.paths)
    assert sum(r["kind"] == "error" for r in rows) == int((labels != preds).sum())
    assert rows[7]["image"].startswith("data:image/webp") and "image" not in rows[8]
    binds = {p["name"]: p.get("bind") for p in spec["params"]}
    assert binds["pick"] == "legend" and binds["zoom"] == "scales"
    assert {"image", "path", "true", "pred", "conf"} <= {t["field"] for t in spec["encoding"]["tooltip"]}
    assert "http" not in json.dumps({k: v for k, v in spec.items() if k not in ("$schema", "datasets")})


def test_build_embeds_the_chart_once_offline_and_keeps_coordinates_out_of_the_embedded_json(
    colour_net, colour_folder: Path, tmp_path: Path
) -> None:
    """The report holds the Vega bundle once, the chart container and its spec; the embedded JSON holds overlap
    and duplicates but no coordinates; the --json file round-trips with them."""
    out = tmp_path / "report.html"
    result = build(colour_net, colour_folder, out=out, preset="none", workers=0, progress=False)
    assert result.projection is not None and len(result.projection) == result.dataset.n_images
    assert result.feature_space.projection.method == "pca" and result.feature_space.projection.requested == "pca"
    html = out.read_text(encoding="utf-8")
    assert html.count("window.vegaEmbed=") == 1
    assert 'id="chart-embedding"' in html and 'data-vega-target="chart-embedding"' in html
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", html)
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])
    assert "projection" not in data and data["feature_space"]["k"] == result.feature_space.k
    assert data["duplicates"]["n_groups"] == result.duplicates.n_groups
    back = ReportData.from_json(result.to_json())
    # The --json file keeps the coordinates, so `render` can redraw the map.
    assert back.projection is not None and len(back.projection) == len(result.projection)
    assert back.feature_space is not None and back.duplicates is not None
    assert back.to_json() == result.to_json()


def test_principal_components_match_scikit_learns_pca_and_the_randomized_path_the_exact_one() -> None:
    """numpy PCA: scikit-learn's coordinates up to each axis's sign; above 512 dimensions the same axes."""
    from sklearn.decomposition import PCA

    from confusion_report.analyses import projection

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 40)) * np.geomspace(5, 0.5, 40)
    ours = projection.principal_components(x, 3)
    theirs = PCA(n_components=3).fit_transform(x)
    assert np.allclose(np.abs(ours), np.abs(theirs), atol=1e-4)
    wide = rng.normal(size=(700, 600)) * np.concatenate([[30, 20], np.geomspace(10, 0.1, 598)])
    wide = wide @ np.linalg.qr(rng.normal(size=(600, 600)))[0]
    randomized = projection.principal_components(wide, 2)
    assert wide.shape[1] > projection.EXACT_PCA_MAX_DIM
    exact = PCA(n_components=2, svd_solver="full").fit_transform(wide)
    for j in range(2):
        assert abs(np.corrcoef(randomized[:, j], exact[:, j])[0, 1]) > 0.9999
