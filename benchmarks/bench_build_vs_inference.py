"""Whole ``build`` (default options) vs plain inference through the same kind of data loader, side by side.

Cases (``--case``), all on the CPU:

- ``resnet18`` / ``resnet50``: ``--n`` generated 224-px JPEGs in 10 class folders, a torchvision ResNet with
  random weights (timing only), ``--preset imagenet``. Target: build <= 1.25x plain.
- ``cifar``: ``--n`` (default 10,000) 32-px images through a CIFAR ResNet: the shared CIFAR-10 sample
  (hard-linked up to ``--n``) and its pretrained ResNet-20 when ``--shared`` has them, else synthetic 32-px
  JPEGs and a random ResNet-18. Target: build <= 1.5x plain.

The build runs as ``confusion-report build --model M --data D --out report.html`` would: default options
(no ``--json``, which costs a second serialisation of the results). "Plain inference" is torchvision's
ImageFolder + DataLoader + the same model in inference mode, with the same preprocessing, batch size and
workers. Plain and build alternate ``--repeats`` times, with one more plain loop at the end; the best of
each is kept, and each build's ratio to the mean of the two plain loops around it is printed too (their
median is the figure that resists the machine's drift). Each stage of the build and each step inside it
is timed (``_stages.py``), and a JSON record goes to ``benchmarks/results/<case>-<UTC time>.json`` so the
next change can be compared.

    python benchmarks/bench_build_vs_inference.py --case resnet18 [--n 2000] [--threads 1] [--repeats 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _common  # noqa: F401  (puts src/ on sys.path)
import torch
import torchvision
from _common import make_folder
from _stages import print_stages, stage_timer
from bench_fixed_overhead import default_shared, linked_cifar
from torch.utils.data import DataLoader
from torchvision import transforms

from confusion_report import build
from confusion_report.loading import load_model

RESULTS = Path(__file__).resolve().parent / "results"
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def plain_inference(model: torch.nn.Module, data: Path, tf: Callable, *, batch_size: int, workers: int) -> int:
    """The floor: ImageFolder + DataLoader + forward, nothing kept but the arg-max."""
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


def prepare(case: str, n: int, work: Path, shared: Path) -> tuple[Path, Path, dict, Callable, str]:
    """Data folder, model file, build options, the plain loop's transform, and a description."""
    if case in ("resnet18", "resnet50"):
        data = make_folder(work / f"jpegs224-{n}", n=n, classes=10, side=224)  # one folder per n: no leftovers
        weights = work / f"{case}_random.pt"
        torch.manual_seed(0)
        torch.save(getattr(torchvision.models, case)(weights=None, num_classes=10).state_dict(), weights)
        tf = transforms.Compose(
            [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(*IMAGENET)]
        )
        return data, weights, {"arch": f"torchvision:{case}", "preset": "imagenet"}, tf, f"{n} 224-px JPEGs, {case}"
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(*IMAGENET)])
    sample = shared / "cifar10-train-sample"
    if sample.is_dir():
        data = linked_cifar(sample, work / "cifar-linked", n)
        options = {
            "arch": f"{shared / 'cifar_resnet.py'}:CifarResNet",
            "arch_kwargs": {"n": 3},
            "preset": "cifar",
            "mean": IMAGENET[0],
            "std": IMAGENET[1],
        }
        return data, shared / "resnet20_cifar10_state_dict.pt", options, tf, f"{n} CIFAR JPEGs (linked), ResNet-20"
    data = make_folder(work / f"jpegs32-{n}", n=n, classes=10, side=32)
    weights = work / "resnet18_random.pt"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), weights)
    options = {"arch": "torchvision:resnet18", "preset": "cifar", "mean": IMAGENET[0], "std": IMAGENET[1]}
    return data, weights, options, tf, f"{n} synthetic 32-px JPEGs, random ResNet-18"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=("resnet18", "resnet50", "cifar"), default="resnet18")
    parser.add_argument("--n", type=int, help="images (default 2000; 10000 for cifar)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="alternate plain/build this many times; keep the best")
    parser.add_argument("--workdir", type=Path, help="keep the images here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    parser.add_argument("--shared", type=Path, default=default_shared())
    parser.add_argument("--no-record", action="store_true", help="do not write the JSON record")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.n or (10_000 if args.case == "cifar" else 2000)
    target = 1.5 if args.case == "cifar" else 1.25

    with tempfile.TemporaryDirectory(prefix="cr-bench-") as tmp:
        work = args.workdir or Path(tmp)
        data, weights, options, tf, what = prepare(args.case, n, work, args.shared)
        model = load_model(weights, arch=options["arch"], arch_kwargs=options.get("arch_kwargs", {})).module.eval()
        plains: list[float] = []
        builds: list[tuple[float, dict[str, float], object]] = []

        def plain_once() -> None:
            start = time.perf_counter()
            plain_inference(model, data, tf, batch_size=args.batch_size, workers=args.workers)
            plains.append(time.perf_counter() - start)

        for _ in range(args.repeats):
            plain_once()
            start = time.perf_counter()
            with stage_timer() as stages:
                result = build(
                    weights,
                    data,
                    device="cpu",
                    workers=args.workers,
                    batch_size=args.batch_size,
                    out=work / "report.html",
                    progress=False,
                    **options,
                )
            builds.append((time.perf_counter() - start, dict(stages), result))
        plain_once()  # after the last build too: each build sits between two plain loops
        plain = min(plains)
        whole, stages, result = min(builds, key=lambda b: b[0])
        n = result.dataset.n_images  # what both loops actually read
        print(f"{what}; batch {args.batch_size}, workers {args.workers}, torch threads {torch.get_num_threads()}")
        print(
            f"plain inference  {plain:7.2f} s  {n / plain:7.1f} img/s   (all: {', '.join(f'{t:.1f}' for t in plains)})"
        )
        all_builds = ", ".join(f"{b[0]:.1f}" for b in builds)
        print(f"build (whole)    {whole:7.2f} s  {n / whole:7.1f} img/s   (all: {all_builds})")
        print("stages of the best build (wall time):")
        print_stages(stages, total=whole)
        x = result.explain
        if x is not None:
            costs = ", ".join(f"{c.method} {c.forwards} forwards {c.seconds:.1f} s" for c in x.costs)
            print(
                f"explain: {costs}; budget {x.budget_forwards} forwards; occlusion covered {x.occluded_errors} of "
                f"{x.gallery_errors} gallery errors ({x.occlusion_positions} windows each); CAMs from {x.cam_source}"
            )
        ratio = whole / plain
        # Each build against the mean of the plain loops just before and just after it: this machine's
        # speed drifts by up to half within minutes, which the best-of-each ratio mixes in; bracketing
        # cancels the part of the drift that is linear over one build.
        paired = [b[0] / ((plains[i] + plains[i + 1]) / 2) for i, b in enumerate(builds)]
        print(f"ratio build / plain = {ratio:.2f}  (target <= {target}); best of each")
        print(
            f"bracketed ratios (build / mean of the plain loops around it) {', '.join(f'{r:.2f}' for r in paired)}; "
            f"median {statistics.median(paired):.2f}"
        )
        if not args.no_record:
            RESULTS.mkdir(exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            record = {
                "case": args.case,
                "what": what,
                "n": n,
                "batch_size": args.batch_size,
                "workers": args.workers,
                "threads": torch.get_num_threads(),
                "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
                "plain_s": plains,
                "build_s": [b[0] for b in builds],
                "ratio": ratio,
                "bracketed_ratios": paired,
                "target": target,
                "stages_s": {k: round(v, 3) for k, v in sorted(stages.items())},
                "explain_costs": [vars(c) for c in x.costs] if x is not None else [],
            }
            path = RESULTS / f"{args.case}-{stamp}.json"
            path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            print(f"record: {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
