"""Peak memory of ``build`` at 20,000 and 100,000 images: it must grow only with the per-image arrays.

Each size runs in its own process: tiny 8x8 PNGs (hard links of a few distinct files, so the disk
is not the benchmark) and a random-weight ResNet-18 with 100 outputs, so each image keeps 100 logits
and a 512-d embedding. A sampler thread adds up the proportional set size (PSS) of the build process
and its data-loader workers every 50 ms; the model's own footprint (PSS after importing torch and
loading the model, before the build) is subtracted. Target: <= 3 GB beyond the model at 100k.

    python benchmarks/bench_memory.py [--sizes 20000,100000] [--workers 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common  # noqa: F401  (puts src/ on sys.path)

NUM_CLASSES = 100
EMBEDDING_DIM = 512
ARCH = "resnet18"


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


class TreeSampler(threading.Thread):
    """Keeps the peak PSS (MB) of this process plus its descendants."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_mb = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            pids, todo = [], [me]
            while todo:
                pid = todo.pop()
                pids.append(pid)
                todo += _children(pid)
            self.peak_mb = max(self.peak_mb, sum(_pss_kb(p) for p in pids) / 1024)
            time.sleep(self.interval)


def child(n: int, workers: int, threads: int, work: Path) -> None:
    """One build at size ``n``; prints a JSON line with the memory figures."""
    import torch
    import torchvision
    from _common import current_rss_mb, peak_rss_mb

    torch.set_num_threads(threads)  # memory does not depend on it; on a busy 2-core box 1 thread is faster

    from confusion_report import build

    data = work / f"tiny{n}"
    weights = work / f"{ARCH}_{NUM_CLASSES}.pt"
    # The model's own footprint: import torch and hold the model, as the build will.
    model = torchvision.models.get_model(ARCH, weights=None, num_classes=NUM_CLASSES)
    model.load_state_dict(torch.load(weights))
    del model
    baseline = _pss_kb(os.getpid()) / 1024
    sampler = TreeSampler()
    sampler.start()
    start = time.perf_counter()
    result = build(
        weights,
        data,
        arch=f"torchvision:{ARCH}",
        preset="none",
        device="cpu",
        workers=workers,
        batch_size=256,
        out=work / f"report{n}.html",
        progress=False,
    )
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    per_image = 4 * (NUM_CLASSES + EMBEDDING_DIM)
    print(
        json.dumps(
            {
                "n": result.dataset.n_images,
                "baseline_mb": baseline,
                "peak_tree_mb": sampler.peak_mb,
                "peak_rss_main_mb": peak_rss_mb(),
                "rss_end_mb": current_rss_mb(),
                "arrays_mb": n * per_image / 1e6,
                "seconds": seconds,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the measured process")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workers, args.threads, args.workdir)
        return
    with tempfile.TemporaryDirectory(prefix="cr-bench-") as tmp:
        work = args.workdir or Path(tmp)
        sizes = [int(s) for s in args.sizes.split(",")]
        # Files and weights are made here, so the measured processes allocate nothing for them.
        import torch
        import torchvision
        from _common import make_folder

        torch.manual_seed(0)
        model = torchvision.models.get_model(ARCH, weights=None, num_classes=NUM_CLASSES)
        torch.save(model.state_dict(), work / f"{ARCH}_{NUM_CLASSES}.pt")
        for n in sizes:
            make_folder(work / f"tiny{n}", n=n, classes=NUM_CLASSES, side=8, ext="png", distinct=64)
        rows = []
        for n in sizes:
            cmd = [sys.executable, __file__, "--child", str(n), "--workers", str(args.workers)]
            cmd += ["--threads", str(args.threads), "--workdir", str(work)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'images':>8} {'model MB':>9} {'peak MB':>9} {'beyond model':>13} {'per-image arrays':>17} {'build s':>8}")
    for r in rows:
        beyond = r["peak_tree_mb"] - r["baseline_mb"]
        print(
            f"{r['n']:>8} {r['baseline_mb']:>9.0f} {r['peak_tree_mb']:>9.0f} {beyond:>10.0f} MB "
            f"{r['arrays_mb']:>14.0f} MB {r['seconds']:>8.1f}"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        growth = (b["peak_tree_mb"] - b["baseline_mb"]) - (a["peak_tree_mb"] - a["baseline_mb"])
        per_image = growth * 1e6 / (b["n"] - a["n"])
        print(
            f"growth {a['n']} -> {b['n']}: {growth:.0f} MB = {per_image / 1e3:.1f} KB per image "
            f"(the per-image arrays hold {4 * (NUM_CLASSES + EMBEDDING_DIM) / 1e3:.1f} KB)"
        )
        print(f"beyond the model at {b['n']}: {(b['peak_tree_mb'] - b['baseline_mb']) / 1e3:.2f} GB (target <= 3 GB)")


if __name__ == "__main__":
    main()
