"""Suspected label errors on real human label noise (CIFAR-10N) and on planted noise, next to confident learning.

Usage: python benchmarks/bench_label_noise.py [--shared /work/shared/data] [--cache /tmp/planted_findings]

Cases (truth: the CIFAR-10N ``clean_label``, or planted-dev/truth.json):

* ``<labels>/resnet20``: the shared ResNet-20's probabilities with the human labels ``aggre_label``
  (9.2% wrong), ``random_label1`` (17.5%) or ``worse_label`` (41.8%). That model was trained on these
  images with clean labels, so it is an optimistic setting.
* ``<labels>/noisy-linear``: a model trained on the noisy labels — a logistic regression on the
  ResNet-20's 64-d embeddings, trained on the noisy labels of one half and applied to the other half
  (both ways, so every image gets an out-of-sample probability). The embeddings still come from a
  network that saw clean labels, which the printed figures should be read with. ``--cnn-epochs N`` adds
  ``<labels>/noisy-cnn``: a small CNN trained from pixels on the noisy labels, cross-fitted the same way
  (not run to completion on the shared 2-core CPU it was written on: ~40 s per epoch and half there).
* ``planted-noise/resnet20``: planted-dev/noise (60 ships filed as airplane, 40 cats as dog).
* ``clean/...``: the clean labels — the control, where the label finding must not fire at high.

Prints per case, for our ranking and for confident learning (self-confidence), precision at k for
k = 50, 100, 200 and the number of real errors, and the recall of the flagged set (the same set for
both); then what the label finding says (severity, pairs, the estimated share of real errors in its
pairs against the measured share, the neighbours' support). Pass arrays come from the cache of
benchmarks/planted_findings.py (computed there when missing).

Measured (2-core CPU; ours vs confident learning, same flagged set so the same recall):
  aggre_label/resnet20       P@50 1.00 vs 1.00, P@200 0.955 vs 0.955, P@461 0.668 vs 0.664, recall 0.746
  aggre_label/noisy-linear   P@50 1.00 vs 1.00, P@200 0.895 vs 0.885, P@461 0.716 vs 0.716, recall 0.443
  random_label1/resnet20     P@200 1.00 vs 1.00, P@877 0.791 vs 0.791, recall 0.852
  random_label1/noisy-linear P@200 0.995 vs 0.995, P@877 0.859 vs 0.859, recall 0.550
  worse_label/resnet20       P@200 1.00 vs 1.00, P@2089 0.899 vs 0.895, recall 0.922
  worse_label/noisy-linear   P@200 1.00 vs 1.00, P@2089 0.887 vs 0.887, recall 0.687
  planted-noise/resnet20     P@50 1.00 vs 0.96, P@100 0.77 vs 0.70, P@200 0.44 vs 0.41, recall 0.890
  label finding: none on clean labels (both models) nor on aggre_label; medium (no attention evidence
  here) on random_label1 truck/automobile (estimated 78% real errors, measured 98%) and on planted noise
  airplane->ship, dog->cat (estimated 90%, measured 89%).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import _common  # noqa: F401  (puts the checkout's src/ first on sys.path)
import numpy as np
from planted_findings import run_case

from confusion_report.analyses.clusters import find_clusters
from confusion_report.analyses.confusion import compute_confusion
from confusion_report.analyses.label_issues import (
    confident_learning,
    find_label_issues,
    noise_excess,
    precision_at_k,
    rank_suspects,
)
from confusion_report.analyses.metrics import compute_metrics
from confusion_report.analyses.pairs import rank_pairs
from confusion_report.analyses.predictions import Predictions
from confusion_report.findings import FindingInputs, run_rules

LABEL_COLUMNS = ("aggre_label", "random_label1", "worse_label")


def crossfit_logits(emb: np.ndarray, labels: np.ndarray, n_classes: int, *, seed: int = 0) -> np.ndarray:
    """Out-of-sample logits of a logistic regression trained on ``labels``: two halves, each predicted by
    the model trained on the other."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    half = np.random.default_rng(seed).permutation(len(labels)) < len(labels) // 2
    out = np.zeros((len(labels), n_classes), np.float32)
    for train in (half, ~half):
        scaler = StandardScaler().fit(emb[train])
        model = LogisticRegression(max_iter=2000, C=0.05).fit(scaler.transform(emb[train]), labels[train])
        out[~train] = model.decision_function(scaler.transform(emb[~train]))
    return out


def cnn_crossfit_logits(
    root: Path, paths: tuple[str, ...], labels: np.ndarray, n_classes: int, *, epochs: int, cache: Path, seed: int = 0
) -> np.ndarray:
    """Out-of-sample logits of a small CNN trained from pixels on ``labels``: two halves, each predicted by
    the network trained on the other (cached: a few minutes on a 2-core CPU)."""
    if cache.exists():
        return np.load(cache)
    import torch
    from torch import nn

    from confusion_report.data import load_rgb

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    x = torch.stack(
        [torch.from_numpy(np.asarray(load_rgb(root / q)[0], dtype=np.float32) / 255).permute(2, 0, 1) for q in paths]
    )
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
    y = torch.as_tensor(labels)
    half = torch.as_tensor(np.random.default_rng(seed).permutation(len(labels)) < len(labels) // 2)
    out = np.zeros((len(labels), n_classes), np.float32)

    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())

    for train in (half, ~half):
        net = nn.Sequential(
            block(3, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2), block(32, 64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_classes),
        )  # fmt: skip
        opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=5e-4)
        xt, yt = x[train], y[train]
        for _ in range(epochs):
            net.train()
            for idx in torch.randperm(len(yt)).split(128):
                xb = xt[idx]
                flip = torch.rand(len(xb)) < 0.5  # horizontal flips: the one augmentation that costs nothing
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                opt.zero_grad()
                nn.functional.cross_entropy(net(xb), yt[idx]).backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            out[(~train).numpy()] = torch.cat([net(b) for b in x[~train].split(500)]).numpy()
    np.save(cache, out)
    return out


def ranking_figures(p: Predictions, truth: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision at k and recall of our ranking and of confident learning against ``truth``."""
    ours, *_ = rank_suspects(p.logits, p.embeddings, p.labels, p.names)
    _, base = confident_learning(p.probs, p.labels)
    ks = (50, 100, 200, int(truth.sum()))
    out = {}
    for name, ranked in (("ours", ours), ("confident learning", base)):
        row = {f"P@{k}": precision_at_k(ranked, truth, k) for k in ks}
        row["recall"] = float(truth[ranked].sum() / max(truth.sum(), 1))
        row["flagged"] = len(ranked)
        out[name] = row
    return out


def finding_figures(p: Predictions, truth: np.ndarray) -> str:
    """What the label finding says (no attention evidence in this benchmark: medium at most), and the
    measured share of real errors among the images behind its pairs."""
    li = find_label_issues(p)
    confusion = compute_confusion(p)
    inputs = FindingInputs(
        classes=p.names,
        confusion=confusion,
        pairs=rank_pairs(p),
        clusters=find_clusters(confusion),
        metrics=compute_metrics(p),
        predictions=p,
        n_images=len(p.labels),
        label_issues=li,
    )
    f = next(iter(run_rules(inputs, kinds=["label_issues"])), None)
    if f is None:
        return "label finding: none"
    test = noise_excess(p.logits, p.labels, p.names)
    pairs = {(p.names.index(e.given), p.names.index(e.suggested)) for e in li.excess}
    members = np.array([test.low[i] and (p.labels[i], test.suggested[i]) in pairs for i in range(len(p.labels))])
    est = f.evidence["real_share"]
    return (
        f"label finding: {f.severity}; pairs {[(e.given, e.suggested, e.observed) for e in li.excess]}; "
        f"estimated real share {est:.2f} (conservative {f.evidence['real_share_low']:.2f}), "
        f"measured {truth[members].mean():.2f} of {members.sum()}; neighbour support {li.neighbour_support:.2f}"
    )


def show(tag: str, p: Predictions, truth: np.ndarray) -> None:
    figures = ranking_figures(p, truth)
    for name, row in figures.items():
        cells = " ".join(f"{k}={v:.3f}" if k != "flagged" else f"{k}={v}" for k, v in row.items())
        print(f"{tag:26s} {name:19s} {cells}")
    print(f"{'':26s} {finding_figures(p, truth)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/planted_findings"))
    ap.add_argument("--cnn-epochs", type=int, default=0, help="also train a small CNN on the noisy labels")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    sd = args.shared
    arch = sd / "cifar_resnet.py"
    weights = sd / "resnet20_cifar10_state_dict.pt"
    clean_p, _, _ = run_case(sd / "cifar10-train-sample", weights, arch, args.cache / "clean.npz")
    with (sd / "cifar10n-sample-labels.csv").open() as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    names = clean_p.names

    def column(col: str) -> np.ndarray:
        return np.array([names.index(rows[path][col]) for path in clean_p.paths])

    clean = column("clean_label")
    assert np.array_equal(clean, clean_p.labels), "the sample's folders are its clean labels"
    emb = clean_p.embeddings.astype(np.float32)
    print(f"{len(clean)} images; ResNet-20 accuracy on clean labels {np.mean(clean_p.preds == clean):.3f}\n")
    for col in LABEL_COLUMNS:
        given = column(col)
        truth = given != clean
        print(f"--- {col}: {truth.sum()} wrong labels ({truth.mean():.1%})")
        show(f"{col}/resnet20", Predictions(names, clean_p.paths, given, clean_p.logits, emb), truth)
        lin = crossfit_logits(emb, given, len(names))
        show(f"{col}/noisy-linear", Predictions(names, clean_p.paths, given, lin, emb), truth)
        if args.cnn_epochs:
            cached = args.cache / f"cnn_{col}_{args.cnn_epochs}.npy"
            root = sd / "cifar10-train-sample"
            cnn = cnn_crossfit_logits(root, clean_p.paths, given, len(names), epochs=args.cnn_epochs, cache=cached)
            print(
                f"{'':26s} small CNN accuracy vs given {np.mean(cnn.argmax(1) == given):.3f}, vs clean "
                f"{np.mean(cnn.argmax(1) == clean):.3f}"
            )
            show(f"{col}/noisy-cnn", Predictions(names, clean_p.paths, given, cnn, emb), truth)
    truth_files = json.loads((sd / "planted-dev" / "truth.json").read_text())["noise"]["files"]
    noise_p, _, _ = run_case(sd / "planted-dev" / "noise", weights, arch, args.cache / "noise.npz")
    truth = np.isin(np.array(noise_p.paths), truth_files)
    print(f"--- planted-dev/noise: {truth.sum()} wrong labels")
    show("planted-noise/resnet20", noise_p, truth)
    print("--- clean labels (control: no high label finding)")
    none = np.zeros(len(clean), bool)
    print(f"{'clean/resnet20':26s} {finding_figures(clean_p, none)}")
    lin = crossfit_logits(emb, clean, len(names))
    print(f"{'clean/linear':26s} {finding_figures(Predictions(names, clean_p.paths, clean, lin, emb), none)}")


if __name__ == "__main__":
    main()
