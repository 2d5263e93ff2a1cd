"""Whole ``build`` vs plain inference through the same kind of data loader, measured side by side.

2,000 generated 224-px JPEGs in 10 class folders, a ResNet-18 with random weights (timing only),
on the CPU. "Plain inference" is torchvision's ImageFolder + DataLoader + the model in inference
mode, with the same preprocessing, batch size and workers. Target: build <= 1.5x plain.

    python benchmarks/bench_build_vs_inference.py [--n 2000] [--workers 2] [--batch-size 64] [--repeats 1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts src/ on sys.path)
import torch
import torchvision
from _common import make_folder, timed
from torch.utils.data import DataLoader
from torchvision import transforms

from confusion_report import build


def plain_inference(model: torch.nn.Module, data: Path, *, batch_size: int, workers: int) -> int:
    """The floor: ImageFolder + DataLoader + forward, nothing kept but the arg-max."""
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
        prefetch_factor=4 if workers else None,
    )
    n = 0
    with torch.inference_mode():
        for x, _ in loader:
            n += int(model(x).argmax(1).numel())
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="images (default 2000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="alternate plain/build this many times; keep the best")
    parser.add_argument("--workdir", type=Path, help="keep the images here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="cr-bench-") as tmp:
        work = args.workdir or Path(tmp)
        data = make_folder(work / "jpegs224", n=args.n, classes=10, side=224)
        weights = work / "resnet18_random.pt"
        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
        torch.save(model.state_dict(), weights)

        times: dict[str, list[float]] = {"plain": [], "build": []}
        passes: list[float] = []
        for _ in range(args.repeats):
            t: dict[str, float] = {}
            with timed("plain", t):
                plain_inference(model, data, batch_size=args.batch_size, workers=args.workers)
            with timed("build", t):
                result = build(
                    weights,
                    data,
                    arch="torchvision:resnet18",
                    device="cpu",
                    workers=args.workers,
                    batch_size=args.batch_size,
                    out=work / "report.html",
                    json_path=work / "report.json",
                    progress=False,
                )
            times["plain"].append(t["plain"])
            times["build"].append(t["build"])
            passes.append(result.run.seconds_pass)

        plain, whole = min(times["plain"]), min(times["build"])
        print(
            f"images {args.n}, batch {args.batch_size}, workers {args.workers}, torch threads {torch.get_num_threads()}"
        )
        print(f"plain inference  {plain:7.2f} s  {args.n / plain:7.1f} img/s")
        print(f"build (whole)    {whole:7.2f} s  {args.n / whole:7.1f} img/s  (its pass {min(passes):.2f} s)")
        print(f"ratio build / plain = {whole / plain:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
