"""Many classes (issue 13): report size, opening time, build memory and fixed overhead at 100 and 1,000 classes.

    python benchmarks/bench_many_classes.py [--classes 100,1000] [--images 50000] [--runs 3]

A synthetic model with a planted confusion structure (tests/many_classes_builders.py: known one-way
top pairs, clusters that trade errors, scattered noise, one 1-of-1 error; no weights) reads its
planted prediction from each 8x8 PNG. Each class count is built in its own process with the default
options (Grad-CAM in the pass, gradcam + occlusion overlays, the PCA map) and ``--class-groups`` (groups of
consecutive classes); a sampler adds up the PSS of the process and its data-loader workers, minus
the footprint of torch and the model before the build. Then headless Chromium opens each report.
Targets at 50,000 images x 1,000 classes: report <= 20 MB, DOMContentLoaded < 3 s, memory <= 4 GB
beyond the model, fixed overhead (build time beyond the pass) <= 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts src/ on sys.path)

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # the planted model and data live with the tests that check them


def structure(n_classes: int, n_images: int, seed: int = 0):
    """The planted structure for ``n_classes`` with about ``n_images`` images (equal class sizes)."""
    from many_classes_builders import plant

    per_class = max(2, n_images // n_classes)
    return plant(
        n_classes,
        per_class=per_class,
        planted_per_class=per_class,
        n_pairs=8 if n_classes >= 500 else 4,
        n_clusters=5 if n_classes >= 500 else 3,
        seed=seed,
    )


def child(n_classes: int, n_images: int, work: Path, workers: int, threads: int, projection: str) -> None:
    """One build; prints a JSON line with its figures."""
    import torch
    from bench_memory import TreeSampler, _pss_kb

    from many_classes_builders import PlantedNet

    torch.set_num_threads(threads)
    from _stages import stage_timer

    from confusion_report import build

    model = PlantedNet(n_classes).eval()
    baseline = _pss_kb(os.getpid()) / 1024
    planted = structure(n_classes, n_images)
    sampler = TreeSampler()
    sampler.start()
    start = time.perf_counter()
    with stage_timer() as times:
        result = build(
            model,
            work / f"data{n_classes}",
            out=work / f"report{n_classes}.html",
            json_path=work / f"results{n_classes}.json",
            class_groups=work / f"groups{n_classes}.csv",
            preset="none",
            device="cpu",
            workers=workers,
            batch_size=256,
            projection=projection,
            progress=False,
        )
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    top = {(p.true, p.pred) for p in result.pairs[: len(planted.top_pairs)]}
    found = {frozenset(c.classes) for c in result.clusters}
    print(
        json.dumps(
            {
                "classes": n_classes,
                "images": result.dataset.n_images,
                "baseline_mb": baseline,
                "peak_tree_mb": sampler.peak_mb,
                "seconds": seconds,
                "seconds_pass": result.run.seconds_pass,
                "stages": dict(sorted(times.items(), key=lambda kv: -kv[1])[:12]),
                "top_pairs_found": len(top & set(planted.top_pairs)),
                "top_pairs_planted": len(planted.top_pairs),
                "clusters_found": sum(c in found for c in planted.clusters),
                "clusters_planted": len(planted.clusters),
                "tiny_rank": next(k for k, p in enumerate(result.pairs) if p.true == planted.tiny_class),
            }
        )
    )


def open_times(path: Path, runs: int) -> list[float]:
    """DOMContentLoaded of ``runs`` fresh page loads from file://, in seconds."""
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM_ARGS, find_chromium

    binary = find_chromium()
    if binary is None:
        sys.exit("chromium not found (apt-get install chromium)")
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_page()
            page.goto(path.resolve().as_uri(), wait_until="load")
            timing = json.loads(page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])"))
            out.append(timing["domContentLoadedEventEnd"] / 1000)
            page.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", default="100,1000")
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the measured process")
    parser.add_argument("--projection", default="pca", help="the build's default; umap to time UMAP")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.images, args.workdir, args.workers, args.threads, args.projection)
        return
    from many_classes_builders import write_images

    with tempfile.TemporaryDirectory(prefix="cr-many-") as tmp:
        work = args.workdir or Path(tmp)
        rows = []
        for n_classes in [int(c) for c in args.classes.split(",")]:
            planted = structure(n_classes, args.images)
            start = time.perf_counter()
            if not (work / f"data{n_classes}").is_dir():
                write_images(planted, work / f"data{n_classes}")
            group = max(2, n_classes // 20)
            (work / f"groups{n_classes}.csv").write_text(
                "class,group\n" + "".join(f"{name},group_{k // group:02d}\n" for k, name in enumerate(planted.names))
            )
            print(f"{n_classes} classes: wrote {planted.n_images} images in {time.perf_counter() - start:.1f} s")
            cmd = [sys.executable, __file__, "--child", str(n_classes), "--images", str(args.images)]
            cmd += ["--workdir", str(work), "--workers", str(args.workers), "--threads", str(args.threads)]
            cmd += ["--projection", args.projection]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            report = work / f"report{n_classes}.html"
            row["size_mb"] = report.stat().st_size / 1e6
            row["json_mb"] = (work / f"results{n_classes}.json").stat().st_size / 1e6
            row["dcl"] = statistics.median(open_times(report, args.runs))
            rows.append(row)
            print(json.dumps(row))
    print()
    header = f"{'classes':>7} {'images':>7} {'report MB':>9} {'open s':>7} {'beyond model':>13} {'pass s':>7} "
    print(header + f"{'overhead s':>10}  planted found")
    for r in rows:
        beyond = (r["peak_tree_mb"] - r["baseline_mb"]) / 1e3
        overhead = r["seconds"] - r["seconds_pass"]
        print(
            f"{r['classes']:>7} {r['images']:>7} {r['size_mb']:>9.2f} {r['dcl']:>7.2f} {beyond:>10.2f} GB "
            f"{r['seconds_pass']:>7.1f} {overhead:>10.1f}  pairs {r['top_pairs_found']}/{r['top_pairs_planted']}, "
            f"clusters {r['clusters_found']}/{r['clusters_planted']}, 1-of-1 error ranked {r['tiny_rank'] + 1}"
        )
        print("         slowest stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items()))
    print("targets at 50,000 x 1,000: report <= 20 MB, open < 3 s, <= 4 GB beyond the model, overhead <= 30 s")


if __name__ == "__main__":
    main()
