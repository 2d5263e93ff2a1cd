"""A long pass killed at about half and rerun with the same ``--cache``: the rerun's pass covers only the rest.

Generates N 32-px PNGs over 10 classes and a small random CIFAR-sized CNN, then runs the real command
line three times with ``--preset cifar --explain none --projection pca``:

1. a reference build without ``--cache`` (the whole pass, for comparison);
2. the same build with ``--cache DIR``, killed with SIGKILL once the progress bar passes half (nothing
   runs on a SIGKILL: only the checkpoints already written survive);
3. the same command again, which resumes from the checkpoints.

It prints the pass time of each run (``run.seconds_pass`` of the JSON for 1 and 3; for 2, the time
from the start of the pass to the kill) and how many images the rerun took from the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from _common import SRC, make_folder
from _models import SmallCifarNet

HERE = Path(__file__).resolve().parent
_PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def _command(model: Path, data: Path, work: Path, *extra: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "confusion_report",
        "build",
        "--model",
        str(model),
        "--arch",
        f"{HERE / '_models.py'}:SmallCifarNet",
        "--data",
        str(data),
        "--preset",
        "cifar",
        "--explain",
        "none",
        "--projection",
        "pca",
        "--device",
        "cpu",
        "--workers",
        str(workers),
        *extra,
    ]


def _env(threads: int | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"build failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _run_and_kill_at(cmd: list[str], env: dict[str, str], *, fraction: float) -> tuple[float, int]:
    """Start the build, SIGKILL it once its progress bar passes ``fraction``; (seconds in the pass, images seen)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = {"pass_started": None, "done": 0, "total": 0}
    buffer = bytearray()

    def read() -> None:
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 65536):
            buffer.extend(chunk)
            text = buffer[-4096:].decode("utf-8", "replace")
            if state["pass_started"] is None and "pass: " in buffer.decode("utf-8", "replace"):
                state["pass_started"] = time.perf_counter()
            found = _PROGRESS.findall(text)
            if found:
                state["done"], state["total"] = (int(v) for v in found[-1])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        if state["total"] and state["done"] >= fraction * state["total"]:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    killed_at = time.perf_counter()
    proc.wait()
    reader.join(timeout=5)
    if proc.returncode != -signal.SIGKILL:
        raise SystemExit(f"the build ended before it was killed ({proc.returncode}):\n{buffer.decode()[-3000:]}")
    return killed_at - (state["pass_started"] or killed_at), state["done"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the builds (default: torch's choice)")
    parser.add_argument("--checkpoint-every", type=int, default=2000, help="as the CLI option (its default: 2000)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of the pass at which to kill")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cr-bench-") as tmp:
        work = args.workdir or Path(tmp)
        data = make_folder(work / "synthetic32", n=args.n, classes=10, side=32, ext="png")
        model = work / "small_cifar.pt"
        torch.manual_seed(0)
        torch.save(SmallCifarNet().state_dict(), model)
        env = _env(args.threads)
        cache = work / "cache"
        for stale in [*cache.glob("pass-*.npz"), *cache.glob("partial-*/*")]:
            stale.unlink()

        reference = work / "reference.json"
        _run(
            _command(
                model, data, work, "--json", str(reference), "--out", str(work / "reference.html"), workers=args.workers
            ),
            env,
        )
        ref = json.loads(reference.read_text())["run"]["seconds_pass"]

        cached = _command(
            model,
            data,
            work,
            "--cache",
            str(cache),
            "--checkpoint-every",
            str(args.checkpoint_every),
            "--json",
            str(work / "resumed.json"),
            "--out",
            str(work / "resumed.html"),
            workers=args.workers,
        )
        killed_pass, seen = _run_and_kill_at(cached, env, fraction=args.kill_at)
        parts = sorted(cache.glob("partial-*/part-*.npz"))

        start = time.perf_counter()
        _run(cached, env)
        wall = time.perf_counter() - start
        result = json.loads((work / "resumed.json").read_text())
        resumed = re.search(r"(\d+) images came from an earlier", " ".join(result["warnings"]))
        taken = int(resumed[1]) if resumed else 0

        print(
            f"{args.n} generated 32-px PNGs, random SmallCifarNet, CPU, {args.workers} workers, "
            f"torch threads {args.threads or 'default'}, checkpoint every {args.checkpoint_every} images"
        )
        print(f"reference build without --cache: pass {ref:.1f} s over {args.n} images")
        print(
            f"run 1 with --cache, SIGKILL at {seen}/{args.n} images: {killed_pass:.1f} s into its pass; "
            f"{len(parts)} checkpoint part(s) on disk"
        )
        print(
            f"run 2, same command: pass {result['run']['seconds_pass']:.1f} s over the other {args.n - taken} "
            f"images ({taken} taken from the checkpoint; pass_cache={result['run']['pass_cache']}); "
            f"whole rerun {wall:.1f} s"
        )


if __name__ == "__main__":
    main()
