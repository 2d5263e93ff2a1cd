"""Cost of the in-pass CAM per model family: forward + CAM backward (predicted and true class) / plain forward.

For each torchvision model (random weights) the target layer and its layout come from the build's own plan
(``why.plan_why``), and the CAM collector runs exactly as in the pass: the backward starts at the target
layer. Prints the chosen layer, its layout and the ratio (target <= 1.15).

    python benchmarks/bench_cam_families.py [--size 224] [--batch 8] [--repeats 3] [--models vit_b_16,swin_t]
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (puts src/ first on sys.path)
import numpy as np
import torch

from confusion_report.collectors.cams import CamCollector
from confusion_report.config import BuildConfig
from confusion_report.loading import LoadedModel
from confusion_report.outputs import logits_of
from confusion_report.why import plan_why

MODELS = (
    "resnet50",
    "vit_b_16",
    "swin_t",
    "convnext_tiny",
    "efficientnet_b0",
    "mobilenet_v3_small",
    "densenet121",
    "regnet_y_400mf",
    "maxvit_t",
)


def measure(name: str, *, size: int, batch: int, repeats: int, device: torch.device) -> None:
    """Print the plan's target layer and best-of-``repeats`` plain vs CAM seconds for one model."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, num_classes=1000).eval()
    x = torch.rand(batch, 3, size, size)
    plan = plan_why(LoadedModel(model, "module", name, hookable=True), x[0], BuildConfig())
    model = model.to(device).requires_grad_(False)
    x = x.to(device)
    # The plan's own collector: the same layer, layout and backward shortcuts as in the pass.
    (cam,) = [c for c in plan.collectors if isinstance(c, CamCollector)]
    labels = torch.randint(0, 1000, (batch,), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )

    def plain() -> float:
        sync()
        start = time.perf_counter()
        with torch.inference_mode(), autocast:
            model(x)
        sync()
        return time.perf_counter() - start

    def with_cam() -> float:
        cam.attach(model, batch)
        sync()
        start = time.perf_counter()
        with torch.enable_grad():
            with autocast:
                out = logits_of(model(x))
            cam.after_forward(np.arange(batch), x, out, labels)
        sync()
        cam.detach()
        return time.perf_counter() - start

    plain(), with_cam()  # warm-up
    p, c = [], []
    for k in range(repeats):  # alternate which goes first
        for fn, store in ((plain, p), (with_cam, c)) if k % 2 else ((with_cam, c), (plain, p)):
            store.append(fn())
    print(
        f"{name:20s} target {plan.target_layer} [{plan.target_layout.describe()}]: plain {min(p) * 1e3:.0f} ms, "
        f"with CAMs {min(c) * 1e3:.0f} ms -> ratio {min(c) / min(p):.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.device}, {args.size} px, batch {args.batch}, {torch.get_num_threads()} thread(s)")
    for name in args.models.split(","):
        measure(name, size=args.size, batch=args.batch, repeats=args.repeats, device=torch.device(args.device))


if __name__ == "__main__":
    main()
