"""Each cause planted in synthetic data fires its finding, names the right classes/region/property, and a
clean control fires nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from confusion_report.analyses.image_stats import ImageStats
from confusion_report.analyses.label_issues import confident_learning, precision_at_k, rank_suspects
from confusion_report.diagnostics import run_diagnostics
from confusion_report.findings import run_rules
from confusion_report.findings.inputs import PairAttentionInput, StageSeparability
from confusion_report.results import GRID_NAMES, DuplicateGroup, DuplicateMember
from findings_builders import gaussian_world, inputs_for, predictions, random_stats


def _diagnose(p, stats: ImageStats, **kw):
    inp = inputs_for(p)
    extras = {f"stat_{k}": getattr(stats, k) for k in ("brightness", "contrast", "saturation", "sharpness")}
    extras["stat_grayscale"] = stats.grayscale.astype(float)
    return run_diagnostics(
        p,
        confusion=inp.confusion,
        pairs=inp.pairs,
        clusters=inp.clusters,
        metrics=inp.metrics,
        extras=extras,
        sizes=np.stack([stats.width, stats.height], axis=1),
        **kw,
    )


def _kinds(findings) -> dict:
    return {f.kind: f for f in findings}


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_control_fires_no_finding(seed: int) -> None:
    """A calibrated model with symmetric borderline errors and unrelated image properties: nothing fires."""
    x, logits, labels, _ = gaussian_world(separation=3.0, seed=seed)
    p = predictions(logits, labels, x)
    diag = _diagnose(p, random_stats(len(labels), seed=seed))
    assert (p.preds != labels).sum() > 100  # plenty of errors to over-interpret
    assert diag.findings == ()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_noise_suspects_are_at_least_as_precise_as_confident_learning(seed: int) -> None:
    """40 c0 images filed as c1: the finding names c1 <- c0 and our top-k beats plain confident learning."""
    x, logits, labels, _ = gaussian_world(separation=4.0, seed=seed)
    rng = np.random.default_rng(seed + 10)
    noisy_logits = logits + rng.normal(0, 2.0, logits.shape)  # the model and the features err independently
    given = labels.copy()
    planted = rng.choice(np.flatnonzero(labels == 0), 40, replace=False)
    given[planted] = 1
    truth = np.zeros(len(given), bool)
    truth[planted] = True
    p = predictions(noisy_logits, given, x)
    ours, *_ = rank_suspects(p.logits, x, given, p.names)
    _, baseline = confident_learning(p.probs, given)
    for k in (10, 20, 40):
        assert precision_at_k(ours, truth, k) >= precision_at_k(baseline, truth, k)
    # The neighbours use the build's geometry (centred cosine, as the feature space): seed 0 measures 0.85 at
    # k = 20 against confident learning's 0.75 (0.90 with uncentred cosine, which no build used).
    assert precision_at_k(ours, truth, 20) >= 0.85
    f = _kinds(_diagnose(p, random_stats(len(given))).findings)["label_issues"]
    assert f.evidence["pairs"][0]["given"] == "c1" and f.evidence["pairs"][0]["suggested"] == "c0"
    assert np.mean([path in {p.paths[i] for i in planted} for path in f.examples]) >= 0.9


def test_uniform_label_noise_ranking_is_not_worse_than_confident_learning() -> None:
    """Noise spread over every pair (no pair excess): the neighbour evidence alone keeps us >= the baseline."""
    x, logits, labels, _ = gaussian_world(separation=4.0, seed=3)
    rng = np.random.default_rng(13)
    noisy_logits = logits + rng.normal(0, 2.0, logits.shape)
    given = labels.copy()
    flip = rng.choice(len(given), 60, replace=False)
    given[flip] = (given[flip] + rng.integers(1, 5, 60)) % 5
    truth = np.zeros(len(given), bool)
    truth[flip] = True
    ours, *_ = rank_suspects(noisy_logits, x, given, predictions(noisy_logits, given).names)
    _, baseline = confident_learning(predictions(noisy_logits, given).probs, given)
    assert all(precision_at_k(ours, truth, k) >= precision_at_k(baseline, truth, k) for k in (20, 40, 60))


def test_dark_slice_fires_property_slice_naming_brightness_low() -> None:
    """Darkened c2 images (40%) are wrong far more often: property_slice names c2, brightness, low."""
    x, logits, labels, _ = gaussian_world(separation=4.0, seed=4)
    stats = random_stats(len(labels), seed=4)
    rng = np.random.default_rng(4)
    dark = rng.choice(np.flatnonzero(labels == 2), 120, replace=False)
    stats.brightness[dark] = rng.uniform(0.02, 0.1, len(dark))
    logits = logits.copy()
    wrong = dark[: len(dark) // 2]
    logits[wrong, 3] = logits[wrong].max(axis=1) + 1.0  # half the dark ones now look like c3
    p = predictions(logits, labels, x)
    f = _kinds(_diagnose(p, stats).findings)["property_slice"]
    assert f.classes[0] == "c2"
    assert (f.evidence["property"], f.evidence["direction"]) == ("brightness", "low")
    assert f.evidence["lift"] > 2 and f.evidence["q_value"] < 0.01


def test_three_class_cluster_fires_confusion_cluster() -> None:
    """c0, c1, c2 trade errors among themselves in a 6-class world: the cluster is named exactly."""
    x, logits, labels, _ = gaussian_world(n_classes=6, separation=6.0, seed=5)
    rng = np.random.default_rng(5)
    logits = logits.copy()
    for a in range(3):
        members = rng.choice(np.flatnonzero(labels == a), 60, replace=False)
        for i in members:
            b = rng.choice([c for c in range(3) if c != a])
            logits[i, b] = logits[i].max() + 0.5
    p = predictions(logits, labels, x)
    findings = _kinds(run_rules(inputs_for(p)))
    assert set(findings["confusion_cluster"].classes) == {"c0", "c1", "c2"}
    assert findings["confusion_cluster"].evidence["error_share"] > 0.8


def test_duplicates_with_conflicting_labels_fire_near_duplicates() -> None:
    """Two copies of one image filed under different classes are found, confirmed on pixels, and fire."""
    from PIL import Image

    from confusion_report.analyses.duplicates import dhash, find_duplicates
    from confusion_report.analyses.knn import knn_graph, normalise
    from confusion_report.analyses.predictions import Predictions

    rng = np.random.default_rng(6)
    emb = rng.normal(0, 1, (200, 16)).astype(np.float32)
    labels = np.repeat(np.arange(4), 50)
    emb[150] = emb[3] * 1.01  # a copy of image 3 (class 0) filed under class 3
    images = rng.integers(0, 256, (200, 8, 8, 3)).astype(np.uint8)
    images[150] = images[3]
    names = ("a", "b", "c", "d")
    paths = tuple(f"{names[y]}/{i}.png" for i, y in enumerate(labels))
    index = {path: i for i, path in enumerate(paths)}
    p = Predictions(names=names, paths=paths, labels=labels, logits=np.eye(4)[labels] * 5, embeddings=emb)
    graph = knn_graph(normalise(emb), k=5)
    found = find_duplicates(p, graph, image_hash=lambda path: dhash(Image.fromarray(images[index[path]])))
    groups = found.groups
    assert [tuple(m.path for m in g.members) for g in groups] == [("a/3.png", "d/150.png")] and groups[0].conflicting
    x, logits, lab, _ = gaussian_world(n_classes=4, per_class=50, separation=6.0)
    f = _kinds(run_rules(inputs_for(predictions(logits, lab, x), duplicates=groups)))["near_duplicates"]
    assert set(f.examples) == {"a/3.png", "d/150.png"} and set(f.classes) == {"a", "d"}
    # The same embeddings but different pixels: a look-alike, not a duplicate.
    images[150] = 255 - images[3]
    again = find_duplicates(p, graph, image_hash=lambda path: dhash(Image.fromarray(images[index[path]])))
    assert again.groups == ()
    members = (DuplicateMember("a/1.png", "a", "a"), DuplicateMember("a/2.png", "a", "a"))
    same = DuplicateGroup(members, labels=("a",), conflicting=False, min_similarity=0.99, max_hash_distance=0)
    assert "near_duplicates" not in _kinds(run_rules(inputs_for(predictions(logits, lab, x), duplicates=(same,))))


def _cells(maps: np.ndarray) -> np.ndarray:
    """Share of each (H, W) map in the 3x3 cells, rows summing to 1."""
    _, h, w = maps.shape
    ys, xs = np.linspace(0, h, 4).astype(int), np.linspace(0, w, 4).astype(int)
    out = np.stack(
        [maps[:, ys[r] : ys[r + 1], xs[c] : xs[c + 1]].sum(axis=(1, 2)) for r in range(3) for c in range(3)], axis=1
    )
    return out / out.sum(axis=1, keepdims=True)


def test_corner_cue_learnt_by_a_small_model_fires_attention_region_bottom_right() -> None:
    """A logistic regression learns a bright bottom-right square that every training 'plane' carries; test
    'birds' carrying it become 'plane'. Its exact attribution (weight x input) fed through PairAttentionInput
    names bottom-right."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    side = 12

    def images(n: int, cls: int, patch: bool) -> np.ndarray:
        img = rng.normal(0.3, 0.1, (n, side, side))
        if cls == 1:
            img[:, 3:8, 3:8] += 0.25  # the real signal: a brighter centre
        if patch:
            img[:, -3:, -3:] = 1.0
        return img

    x_train = np.concatenate([images(300, 0, False), images(300, 1, True)])
    y_train = np.r_[np.zeros(300), np.ones(300)]
    model = LogisticRegression(max_iter=300).fit(x_train.reshape(600, -1), y_train)
    test_birds = np.concatenate([images(40, 0, True), images(160, 0, False)])
    test_planes = images(200, 1, False)
    x_test = np.concatenate([test_birds, test_planes])
    y_test = np.r_[np.zeros(200), np.ones(200)].astype(int)
    pred = model.predict(x_test.reshape(400, -1)).astype(int)
    errors = np.flatnonzero((y_test == 0) & (pred == 1))
    correct = np.flatnonzero(y_test == pred)
    assert len(errors) >= 20 and np.mean(errors < 40) > 0.8  # the cue was learnt: patched birds fail
    # Attribution towards the predicted class: |w * x| for 'plane', clipped at zero like a CAM.
    w = model.coef_.reshape(side, side)
    sign = np.where(pred == 1, 1.0, -1.0)[:, None, None]
    maps = np.clip(sign * w[None] * x_test, 0, None) + 1e-9
    attention = PairAttentionInput(
        true="bird",
        pred="plane",
        error_cells=_cells(maps[errors]),
        correct_cells=_cells(maps[correct]),
        examples=tuple(f"bird/{i}.png" for i in errors),
    )
    x, logits, lab, _ = gaussian_world(n_classes=2, per_class=100, separation=6.0)
    p = predictions(logits, lab, x, names=("bird", "plane"))
    f = _kinds(run_rules(inputs_for(p, attention=(attention,))))["attention_region"]
    assert f.evidence["region"] == "bottom-right" and f.classes == ("bird", "plane")
    assert "consistent with a spurious cue" in f.text.lower() and "uses" not in f.text
    # Control: the same attention for errors and correct predictions fires nothing.
    same = PairAttentionInput("bird", "plane", _cells(maps[correct][:40]), _cells(maps[correct][40:]))
    assert "attention_region" not in _kinds(run_rules(inputs_for(p, attention=(same,))))


def test_attention_region_names_the_border() -> None:
    """Errors that look at the outer ring (a frame or watermark border) name 'border'."""
    rng = np.random.default_rng(8)
    uniform = np.full((30, 9), 1 / 9) + rng.normal(0, 0.005, (30, 9))
    a = PairAttentionInput(
        "cat",
        "dog",
        error_cells=uniform[:15],
        correct_cells=uniform[15:],
        error_border=rng.uniform(0.5, 0.7, 15),
        correct_border=rng.uniform(0.1, 0.2, 15),
    )
    x, logits, lab, _ = gaussian_world(n_classes=2, per_class=50, separation=6.0)
    f = _kinds(run_rules(inputs_for(predictions(logits, lab, x, names=("cat", "dog")), attention=(a,))))
    assert f["attention_region"].evidence["region"] == "border"
    assert GRID_NAMES[8] == "bottom-right"


def test_layer_separation_names_the_stage_where_the_pair_stops_separating() -> None:
    """Probe accuracy peaks at layer2, then drops significantly: the finding names layer2; a rising curve is silent."""
    x, logits, lab, _ = gaussian_world(n_classes=2, per_class=50, separation=6.0)
    p = predictions(logits, lab, x, names=("cat", "dog"))
    drop = StageSeparability("cat", "dog", ("layer1", "layer2", "layer3"), (0.70, 0.86, 0.72), n=400)
    f = _kinds(run_rules(inputs_for(p, separability=(drop,))))["layer_separation"]
    assert f.evidence["stage_best"] == "layer2" and "layer3" in f.text
    flat = StageSeparability("cat", "dog", ("layer1", "layer2", "layer3"), (0.80, 0.90, 0.93), n=400)
    assert "layer_separation" not in _kinds(run_rules(inputs_for(p, separability=(flat,))))


def _overlap_inputs(*, merge: bool):
    """A five-class world; with ``merge`` classes c0 and c1 share one centre (their features cannot separate them)."""
    from confusion_report.analyses.knn import knn_graph, normalise
    from confusion_report.analyses.neighbours import analyse_neighbours

    x, _, labels, centres = gaussian_world(separation=6.0, seed=3)
    if merge:
        centres = centres.copy()
        x[labels == 1] += centres[0] - centres[1]
        centres[1] = centres[0]
    logits = -((x[:, None, :] - centres[None]) ** 2).sum(axis=2) / 2
    p = predictions(logits, labels, x)
    inputs = inputs_for(p)
    unit = normalise(x)
    space = analyse_neighbours(p, unit, knn_graph(unit, k=10), pairs=inputs.pairs)
    return p, dataclasses.replace(inputs, overlaps=space.pairs), space


def test_feature_overlap_fires_on_classes_that_share_their_features_and_reads_the_sections_measure() -> None:
    """c0 and c1 drawn around one centre: the finding names them with the feature-space section's own numbers."""
    _, inputs, space = _overlap_inputs(merge=True)
    f = _kinds(run_rules(inputs))["feature_overlap"]
    assert set(f.classes) == {"c0", "c1"}
    shown = next(o for o in space.pairs if {o.a, o.b} == {"c0", "c1"})
    assert shown.verdict == "overlapping"
    assert f.evidence["mixing_ratio"] == shown.mixing_ratio and f.evidence["silhouette"] == shown.silhouette


def test_feature_overlap_stays_silent_when_the_confused_classes_are_apart_in_feature_space() -> None:
    """Equidistant, well-separated classes with borderline errors: no overlap finding."""
    _, inputs, space = _overlap_inputs(merge=False)
    assert space.pairs and all(o.verdict != "overlapping" for o in space.pairs)
    assert "feature_overlap" not in _kinds(run_rules(inputs))
