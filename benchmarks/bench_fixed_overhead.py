"""Fixed overhead of ``build`` beyond the one pass, for 10,000 CIFAR-sized images.

Overhead = wall time of the whole build minus the pass (``run.seconds_pass``): discovery, model
loading, the probe, every analysis, explanations of gallery images, thumbnails, rendering and
writing; whatever ``build`` does besides streaming the images through the model. It prints each
stage's time so a regression points at its cause. Target: <= 15 s on 2 cores.

With the shared CIFAR-10 sample and its pretrained ResNet-20 (``--shared DIR``; default
``$CONFUSION_REPORT_SHARED_DATA`` or a ``shared/data`` folder above the checkout) the report has
real confusions and full galleries; without it, synthetic 32-px images and a random-weight
ResNet-18 stand in.

    python benchmarks/bench_fixed_overhead.py [--n 10000] [--threads 2] [--shared DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts src/ on sys.path)
import torch
import torchvision
from _common import make_folder
from _stages import print_stages, stage_timer

from confusion_report import build


def default_shared() -> Path:
    """``$CONFUSION_REPORT_SHARED_DATA``, else the first ``shared/data`` beside a parent of this checkout."""
    env = os.environ.get("CONFUSION_REPORT_SHARED_DATA")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return Path("shared/data")


def linked_cifar(sample: Path, dest: Path, n: int) -> Path:
    """``n`` images in the sample's class folders, as hard links that cycle through the sample."""
    marker = dest / f".complete-{n}"
    if marker.exists():
        return dest
    files = sorted(p for p in sample.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i in range(n):
        src = files[i % len(files)]
        target = dest / src.parent.name / f"{i // len(files)}_{src.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            target.write_bytes(src.read_bytes())
    marker.touch()
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 cores)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shared", type=Path, default=default_shared())
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="cr-bench-") as tmp:
        work = args.workdir or Path(tmp)
        sample = args.shared / "cifar10-train-sample"
        if sample.is_dir():
            data = linked_cifar(sample, work / "cifar-linked", args.n)
            model = args.shared / "resnet20_cifar10_state_dict.pt"
            options = dict(
                arch=f"{args.shared / 'cifar_resnet.py'}:CifarResNet",
                arch_kwargs={"n": 3},
                mean=(0.485, 0.456, 0.406),
                std=(0.229, 0.224, 0.225),
            )
            what = "CIFAR-10 sample (linked) + pretrained ResNet-20"
        else:
            data = make_folder(work / "synthetic32", n=args.n, classes=10, side=32, ext="png")
            model = work / "resnet18_random.pt"
            torch.manual_seed(0)
            torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), model)
            options = dict(arch="torchvision:resnet18")
            what = "synthetic 32-px PNGs + random ResNet-18"

        start = time.perf_counter()
        with stage_timer() as stages:
            result = build(
                model,
                data,
                preset="cifar",
                device="cpu",
                workers=args.workers,
                out=work / "report.html",
                json_path=work / "report.json",
                progress=False,
                **options,
            )
        total = time.perf_counter() - start
        overhead = total - result.run.seconds_pass
        print(f"{what}: {result.dataset.n_images} images, torch threads {torch.get_num_threads()}")
        print(f"whole build {total:.2f} s, pass {result.run.seconds_pass:.2f} s")
        print("stages (wall time; the pass is run_pass/run_pass):")
        print_stages(dict(stages), total=total)
        print(f"fixed overhead beyond the pass = {overhead:.2f} s  (target <= 15 s on 2 cores)")


if __name__ == "__main__":
    main()
