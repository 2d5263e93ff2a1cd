"""Cost of Grad-CAM for every image inside the one pass: prints pass-with-CAMs / pass-without.

Runs the real pass (``engine.run_pass``: decode, transform, forward) twice per repeat, once with
only the stage collector and once with the CAM collector added, and keeps the best time of each.
Models: a torchvision ResNet-18 with random weights on generated 224 px images, and the CIFAR
ResNet-20 on the shared CIFAR-10 sample when ``../shared/data`` exists. Target: ratio <= 1.15.

    PYTHONPATH=src python benchmarks/bench_cam_overhead.py [--images 128] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from confusion_report.collectors.cams import CamCollector
from confusion_report.engine import run_pass
from confusion_report.layers import find_target_layer, trace_shapes
from confusion_report.loading import LoadedModel, get_submodule
from confusion_report.preprocess import build_transform, resolve_preprocessing

_HERE = Path(__file__).resolve()
SHARED = next(
    (
        p
        for p in (
            Path(os.environ.get("CONFUSION_REPORT_SHARED_DATA", "/nonexistent")),
            _HERE.parents[2] / "shared" / "data",
            _HERE.parents[3] / "shared" / "data",
        )
        if p.is_dir()
    ),
    _HERE.parents[2] / "shared" / "data",
)


def _time_pass(loaded: LoadedModel, paths, transform, *, num_outputs: int, labels, cams: bool, batch: int) -> float:
    collectors = []
    if cams:
        shapes = trace_shapes(loaded.module, transform(Image.open(paths[0]).convert("RGB")))
        collectors.append(CamCollector(get_submodule(loaded.module, find_target_layer(shapes))))
    start = time.perf_counter()
    run_pass(
        loaded,
        paths,
        transform,
        num_outputs=num_outputs,
        device=torch.device("cpu"),
        labels=labels,
        batch_size=batch,
        workers=0,
        collectors=collectors,
        progress=False,
    )
    return time.perf_counter() - start


def compute_only(loaded: LoadedModel, x: torch.Tensor, *, repeats: int) -> tuple[float, float]:
    """Best-of seconds of the model alone on in-memory tensors: plain inference vs forward + CAM backward."""
    from confusion_report.outputs import logits_of as _logits_of

    module = loaded.module.requires_grad_(False)
    shapes = trace_shapes(module, x[0])
    cam = CamCollector(get_submodule(module, find_target_layer(shapes)))
    labels = torch.zeros(len(x), dtype=torch.long)
    plain, with_cams = [], []

    def run_plain() -> None:
        start = time.perf_counter()
        with torch.inference_mode():
            module(x)
        plain.append(time.perf_counter() - start)

    def run_cams() -> None:
        cam.attach(module, len(x))
        start = time.perf_counter()
        with torch.enable_grad():
            out = _logits_of(module(x))
            cam.after_forward(np.arange(len(x)), x, out, labels)
        with_cams.append(time.perf_counter() - start)
        cam.detach()

    run_plain()
    run_cams()  # warm-up, dropped below
    for k in range(repeats):  # alternate which goes first: the second run of a pair tends to be faster
        for fn in (run_plain, run_cams) if k % 2 else (run_cams, run_plain):
            fn()
    return min(plain[1:]), min(with_cams[1:])


def measure(name: str, loaded: LoadedModel, paths, transform, *, num_outputs: int, repeats: int, batch: int) -> None:
    """Print best-of-``repeats`` seconds without and with CAMs, and their ratio."""
    labels = np.zeros(len(paths), dtype=np.int64)
    _time_pass(loaded, paths[:batch], transform, num_outputs=num_outputs, labels=labels, cams=True, batch=batch)
    plain, with_cams = [], []
    for k in range(repeats):  # interleaved (so a burst of load elsewhere hits both), alternating which goes first
        for cams in (False, True) if k % 2 else (True, False):
            seconds = _time_pass(
                loaded, paths, transform, num_outputs=num_outputs, labels=labels, cams=cams, batch=batch
            )
            (with_cams if cams else plain).append(seconds)
    p, c = min(plain), min(with_cams)
    x = torch.stack([transform(Image.open(path).convert("RGB")) for path in paths[:batch]])
    mp, mc = compute_only(loaded, x, repeats=repeats)
    print(f"{name}: model alone, batch {batch}: {mp * 1e3:.0f} ms, with CAMs {mc * 1e3:.0f} ms -> ratio {mc / mp:.3f}")
    print(
        f"{name}: {len(paths)} images, batch {batch}, {torch.get_num_threads()} thread(s): "
        f"pass {p:.2f} s ({len(paths) / p:.0f} img/s), with CAMs {c:.2f} s -> ratio {c / p:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--cifar-images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is stable on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    import torchvision

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        paths = []
        for i in range(args.images):
            path = Path(tmp) / f"img_{i:04d}.jpg"
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(path, quality=90)
            paths.append(path)
        model = torchvision.models.resnet18(weights=None).eval()
        transform = build_transform(resolve_preprocessing(preset="imagenet"))
        loaded = LoadedModel(model, "module", "resnet18", hookable=True)
        measure(
            "ResNet-18 (random weights, 224 px)",
            loaded,
            paths,
            transform,
            num_outputs=1000,
            repeats=args.repeats,
            batch=args.batch,
        )

    sample = SHARED / "cifar10-train-sample"
    if sample.is_dir():
        sys.path.insert(0, str(SHARED))
        from cifar_resnet import CifarResNet

        model = CifarResNet(n=3)
        model.load_state_dict(torch.load(SHARED / "resnet20_cifar10_state_dict.pt", map_location="cpu"))
        paths = sorted(sample.rglob("*.jpg"))
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(args.cifar_images, len(paths))).astype(int)]
        prep = resolve_preprocessing(preset="cifar", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        loaded = LoadedModel(model.eval(), "state_dict", "resnet20", hookable=True)
        measure(
            "CIFAR ResNet-20 (pretrained, 32 px)",
            loaded,
            paths,
            build_transform(prep),
            num_outputs=10,
            repeats=args.repeats,
            batch=128,
        )
    else:
        print(f"(shared data not found at {SHARED}: CIFAR ResNet-20 skipped)")


if __name__ == "__main__":
    main()
