"""The whole report on one GPU: ResNet-50, 20,000 ImageNet-sized JPEGs, img/s beside the inference floor.

Prints, measured in one run on the same files:

* the model alone on random tensors (bf16, channels_last): the compute ceiling;
* plain inference: torchvision ImageFolder + DataLoader (CPU decoding, ``--workers`` processes) + the
  same model: the floor a user gets without this tool;
* the whole ``build`` (report, JSON) with JPEGs decoded on the GPU (nvJPEG) and, with
  ``--cpu-decode-too``, the whole build with CPU decoding for comparison.

Target on one H100/H200-class GPU: whole report >= 5,000 img/s. Needs CUDA; exits with a message
otherwise. Images are generated once (in parallel) into ``--workdir`` and reused.

    python benchmarks/bench_gpu.py [--n 20000] [--workers 15] [--batch-size 256] [--workdir /tmp/cr-gpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common  # noqa: F401  (puts src/ on sys.path)
import numpy as np
import torch

NUM_CLASSES = 100


def _write_chunk(args: tuple[Path, int, int, int]) -> None:
    from _common import smooth_image

    root, start, stop, seed = args
    rng = np.random.default_rng(seed)
    for i in range(start, stop):
        # ImageNet's typical sizes: about 500x375, landscape and portrait.
        w, h = (500, 375) if rng.random() < 0.7 else (375, 500)
        img = smooth_image(rng, max(w, h)).crop((0, 0, w, h))
        folder = root / f"class_{i % NUM_CLASSES:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"img_{i:07d}.jpg", quality=90)


def make_imagenet_like(root: Path, n: int, procs: int) -> Path:
    """``n`` ImageNet-sized JPEGs in ``NUM_CLASSES`` folders, generated in parallel (reused when present)."""
    marker = root / f".complete-{n}"
    if marker.exists():
        return root
    step = 500
    chunks = [(root, s, min(s + step, n), s) for s in range(0, n, step)]
    with ProcessPoolExecutor(max_workers=procs) as pool:
        list(pool.map(_write_chunk, chunks))
    marker.touch()
    return root


def model_only(model: torch.nn.Module, batch_size: int, steps: int = 30) -> float:
    """img/s of the model alone on random input already on the GPU."""
    x = torch.randn(batch_size, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def plain_inference(model: torch.nn.Module, data: Path, *, batch_size: int, workers: int) -> tuple[int, float]:
    """ImageFolder + DataLoader (CPU decode) + the model in bf16: the usual evaluation loop."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    loader = DataLoader(
        torchvision.datasets.ImageFolder(str(data), transform=tf),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=True,
        prefetch_factor=4,
        persistent_workers=False,
    )
    n = 0
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for x, _ in loader:
            x = x.to("cuda", non_blocking=True).contiguous(memory_format=torch.channels_last)
            n += int(model(x).argmax(1).numel())
    torch.cuda.synchronize()
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cr-bench-gpu"))
    parser.add_argument("--cpu-decode-too", action="store_true", help="also time the build with CPU decoding")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); nothing was measured.")

    import torchvision

    from confusion_report import build

    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = make_imagenet_like(args.workdir / "imagenet-like", args.n, procs=os.cpu_count() or 2)
    print(f"data: {args.n} JPEGs ready in {time.perf_counter() - t0:.0f} s", flush=True)
    weights = args.workdir / "resnet50_random.pt"
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None, num_classes=NUM_CLASSES).eval()
    torch.save(model.state_dict(), weights)
    model = model.cuda().to(memory_format=torch.channels_last)
    model.requires_grad_(False)

    gpu = torch.cuda.get_device_name()
    print(f"{gpu}, torch {torch.__version__}, batch {args.batch_size}, {args.workers} workers", flush=True)
    ceiling = model_only(model, args.batch_size)
    print(f"model alone (bf16, random input)       {ceiling:8.0f} img/s", flush=True)
    n, secs = plain_inference(model, data, batch_size=args.batch_size, workers=args.workers)
    floor = n / secs
    print(f"plain inference (ImageFolder, CPU dec.) {floor:8.0f} img/s  ({secs:.1f} s)", flush=True)
    del model
    torch.cuda.empty_cache()

    runs = [("build, GPU decode", True)] + ([("build, CPU decode", False)] if args.cpu_decode_too else [])
    for label, gpu_decode in runs:
        start = time.perf_counter()
        result = build(
            weights,
            data,
            arch="torchvision:resnet50",
            device="cuda",
            batch_size=args.batch_size,
            workers=args.workers,
            gpu_decode=gpu_decode,
            out=args.workdir / "report.html",
            json_path=args.workdir / "report.json",
            progress=False,
        )
        whole = time.perf_counter() - start
        rate = result.dataset.n_images / whole
        print(
            f"{label:<24} whole report {rate:8.0f} img/s ({whole:.1f} s; pass {result.run.images_per_second:.0f} "
            f"img/s; {rate / floor:.2f}x plain inference)",
            flush=True,
        )
        if result.explain is not None:
            x = result.explain
            costs = ", ".join(f"{c.method} {c.forwards} forwards {c.seconds:.1f} s" for c in x.costs)
            print(
                f"{'':<24} explain: {costs}; budget {x.budget_forwards} forwards; CAMs from {x.cam_source}; "
                f"occlusion covered {x.occluded_errors} of {x.gallery_errors} gallery errors",
                flush=True,
            )
    print("target: whole report >= 5,000 img/s on one H100/H200-class GPU")


if __name__ == "__main__":
    main()
