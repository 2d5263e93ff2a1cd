"""Measure the findings on the planted-dev cases (noise/, dark/, patch/) against their truth.json.

Usage: PYTHONPATH=src python benchmarks/planted_findings.py [--shared /work/shared/data] [--cache /tmp/pf]

Runs the one pass per case (cached as .npz), then the diagnostics stage and every rule, and prints per
kind what fired and, where truth exists, precision/recall: label-issue suspects against the planted
files (ours vs the confident-learning baseline), the dark slice, and the patch attention (from a
Grad-CAM on the last stage computed here, since the CAM collector lives in another branch).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from confusion_report.analyses.clusters import find_clusters
from confusion_report.analyses.confusion import compute_confusion
from confusion_report.analyses.label_issues import confident_learning, precision_at_k, rank_suspects
from confusion_report.analyses.metrics import compute_metrics
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions
from confusion_report.diagnostics import run_diagnostics

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def run_case(root: Path, weights: Path, arch: Path, cache: Path) -> tuple[Predictions, dict, np.ndarray]:
    """Pass arrays for one data folder, cached."""
    import torch

    from confusion_report.collectors.embedding import EmbeddingCollector
    from confusion_report.collectors.image_stats import ImageStatsCollector
    from confusion_report.data import discover
    from confusion_report.engine import run_pass
    from confusion_report.loading import find_final_linear, get_submodule, load_model
    from confusion_report.preprocess import build_transform, resolve_preprocessing

    index = discover(root, only_classes=None)
    names = index.classes
    rel = [r.rel for r in index.records]
    labels = np.array([names.index(r.label) for r in index.records])
    if cache.exists():
        z = np.load(cache)
        extras = {k.removeprefix("x_"): z[k] for k in z.files if k.startswith("x_")}
        p = Predictions(names, tuple(rel), labels, z["logits"], z["emb"])
        return p, extras, z["sizes"]
    torch.set_num_threads(2)
    loaded = load_model(weights, arch=f"{arch}:CifarResNet", arch_kwargs={"n": 3}, trust_pickle=False)
    prep = resolve_preprocessing(preset="cifar", mean=MEAN, std=STD)
    layer = find_final_linear(loaded.module)
    cols = [EmbeddingCollector(get_submodule(loaded.module, layer)), ImageStatsCollector(mean=MEAN, std=STD)]
    arrays = run_pass(
        loaded,
        [r.path for r in index.records],
        build_transform(prep),
        num_outputs=len(names),
        device=torch.device("cpu"),
        labels=labels,
        batch_size=256,
        collectors=cols,
        progress=False,
    )
    assert len(arrays.indices) == len(rel)
    np.savez(
        cache,
        logits=arrays.logits,
        emb=arrays.extras["embedding"],
        sizes=arrays.sizes,
        **{f"x_{k}": v for k, v in arrays.extras.items() if k.startswith("stat_")},
    )
    return run_case(root, weights, arch, cache)


def gradcam_cells(weights: Path, arch: Path, root: Path, paths: list[str], targets: np.ndarray):
    """Grad-CAM at layer3 for ``targets`` (the predicted class): per image the share in each 3x3 cell
    (on the 32x32 upsampled map) and in the outer 4-pixel ring. Benchmark-only stand-in for the CAM
    collector of another branch."""
    import torch
    import torch.nn.functional as F

    from confusion_report.data import load_rgb
    from confusion_report.loading import load_model
    from confusion_report.preprocess import build_transform, resolve_preprocessing

    model = load_model(weights, arch=f"{arch}:CifarResNet", arch_kwargs={"n": 3}, trust_pickle=False).module.eval()
    tf = build_transform(resolve_preprocessing(preset="cifar", mean=MEAN, std=STD))
    store = {}
    h = model.layer3.register_forward_hook(lambda _m, _i, o: store.__setitem__("a", o))
    cells, border = [], []
    try:
        for start in range(0, len(paths), 128):
            x = torch.stack([tf(load_rgb(root / q)[0]) for q in paths[start : start + 128]])
            out = model(x)
            act = store["a"]
            t = torch.as_tensor(targets[start : start + 128])
            (grad,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), act)
            cam = F.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(1, keepdim=True))
            cam = F.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[:, 0].detach().numpy()
            cam = cam + 1e-9
            edges = [0, 11, 21, 32]
            c = np.stack(
                [
                    cam[:, edges[r] : edges[r + 1], edges[k] : edges[k + 1]].sum((1, 2))
                    for r in range(3)
                    for k in range(3)
                ],
                axis=1,
            )
            cells.append(c / c.sum(1, keepdims=True))
            ring = np.ones((32, 32), bool)
            ring[4:-4, 4:-4] = False
            border.append(cam[:, ring].sum(1) / cam.reshape(len(cam), -1).sum(1))
    finally:
        h.remove()
    return np.concatenate(cells), np.concatenate(border)


def attention_inputs(p: Predictions, pairs, weights: Path, arch: Path, root: Path, top: int = 5):
    """PairAttentionInput for the top pairs: errors true->pred vs correct images of both classes."""
    from confusion_report.findings.inputs import PairAttentionInput

    preds = p.preds
    out = []
    for pr in pairs[:top]:
        a, b = p.names.index(pr.true), p.names.index(pr.pred)
        err = np.flatnonzero((p.labels == a) & (preds == b))
        cor = np.flatnonzero(np.isin(p.labels, [a, b]) & (preds == p.labels))
        idx = np.r_[err, cor]
        cells, border = gradcam_cells(weights, arch, root, [p.paths[i] for i in idx], preds[idx])
        ne = len(err)
        out.append(
            PairAttentionInput(
                pr.true, pr.pred, cells[:ne], cells[ne:], border[:ne], border[ne:], tuple(p.paths[i] for i in err)
            )
        )
    return tuple(out)


def diagnose(p: Predictions, extras: dict, sizes: np.ndarray, root: Path, attention=()):
    from confusion_report.feature_space import run_feature_space

    confusion = compute_confusion(p)
    pairs = rank_pairs(p)
    # The build's feature-space stage gives the shared k-NN graph and the near-duplicate groups.
    features = run_feature_space(p, pairs=pairs, galleries=(), root=root, method="pca")
    return run_diagnostics(
        p,
        confusion=confusion,
        pairs=pairs,
        clusters=find_clusters(confusion),
        metrics=compute_metrics(p),
        extras=extras,
        sizes=sizes,
        attention=attention,
        graph=features.graph,
        feature_space=features.feature_space,
        duplicates=features.duplicates,
    ), features


def show(name: str, diag) -> None:
    print(f"\n=== {name}: {len(diag.findings)} findings")
    for f in diag.findings:
        print(f"  [{f.severity}] {f.kind}: {f.title}")


def label_noise_figures(p: Predictions, truth_files: list[str]) -> dict:
    truth = np.isin(np.array(p.paths), truth_files)
    ours, *_ = rank_suspects(p.logits, p.embeddings, p.labels, p.names)
    _, base = confident_learning(p.probs, p.labels)
    out = {"planted": int(truth.sum()), "ours_flagged": len(ours), "baseline_flagged": len(base)}
    for k in (10, 25, 50, 100):
        out[f"P@{k} ours"] = precision_at_k(ours, truth, k)
        out[f"P@{k} baseline"] = precision_at_k(base, truth, k)
    out["recall ours (all flagged)"] = float(truth[ours].sum() / truth.sum())
    out["recall baseline (all flagged)"] = float(truth[base].sum() / truth.sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/planted_findings"))
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    sd = args.shared
    truth = json.loads((sd / "planted-dev" / "truth.json").read_text())
    arch = sd / "cifar_resnet.py"
    base_w = sd / "resnet20_cifar10_state_dict.pt"
    cases = {
        "clean": (sd / "cifar10-train-sample", base_w),
        "noise": (sd / "planted-dev" / "noise", base_w),
        "dark": (sd / "planted-dev" / "dark", base_w),
        "patch": (sd / "planted-dev" / "patch", sd / "resnet20_patch_airplane_state_dict.pt"),
    }
    results = {}
    spaces = {}
    for name, (root, w) in cases.items():
        p, extras, sizes = run_case(root, w, arch, args.cache / f"{name}.npz")
        attention = ()
        if name in ("clean", "patch"):
            attention = attention_inputs(p, rank_pairs(p), w, arch, root)
        diag, features = diagnose(p, extras, sizes, root, attention)
        show(name, diag)
        results[name] = (p, diag)
        spaces[name] = features
    p, diag = results["noise"]
    print("\nlabel noise:", json.dumps(label_noise_figures(p, truth["noise"]["files"]), indent=1))
    li = next((f for f in diag.findings if f.kind == "label_issues"), None)
    if li is not None:
        hits = np.isin(np.array(li.examples), truth["noise"]["files"])
        print(
            f"label_issues finding: {li.title}; pairs {li.evidence['pairs']}; examples {hits.sum()}/{len(hits)} planted"
        )
        print("  text:", li.text)
    p, diag = results["dark"]
    for s in diag.slices[:5]:
        print(f"dark slice: {s.true}->{s.pred} {s.prop} {s.direction} lift {s.lift:.2f} q {s.q_value:.2g}")
    ps = next((f for f in diag.findings if f.kind == "property_slice"), None)
    print(
        "dark property_slice finding:",
        None if ps is None else (ps.classes, ps.evidence["property"], ps.evidence["direction"]),
    )
    if ps is not None:
        hits = np.isin(np.array(ps.examples), truth["dark"]["files"])
        print(f"  examples {hits.sum()}/{len(hits)} planted; text: {ps.text}")
    p, diag = results["patch"]
    for s in diag.slices[:5]:
        print(f"patch slice: {s.true}->{s.pred} {s.prop} {s.direction} lift {s.lift:.2f} q {s.q_value:.2g}")
    for name in ("clean", "patch"):
        f = next((f for f in results[name][1].findings if f.kind == "attention_region"), None)
        print(f"{name} attention_region:", None if f is None else (f.classes, f.evidence["region"], f.text))
        if f is not None and name == "patch":
            hits = np.isin(np.array(f.examples), truth["patch"]["files"])
            print(f"  examples {hits.sum()}/{len(hits)} planted")
    for name in ("clean", "dark", "patch"):
        f = next((f for f in results[name][1].findings if f.kind == "label_issues"), None)
        print(f"{name} label_issues:", None if f is None else f.title)
    for name, (_, d) in results.items():
        fs = spaces[name]
        print(
            f"{name} ece {d.calibration.ece:.3f}; duplicates {fs.duplicates.n_groups} groups; overlaps",
            [(o.a, o.b, round(o.mixing_ratio, 3), round(o.silhouette, 3)) for o in fs.feature_space.pairs[:3]],
        )


if __name__ == "__main__":
    main()
