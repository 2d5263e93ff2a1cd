"""Sharding with torchrun: two CPU ranks (gloo) give the same report numbers as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import confusion_report
from builders import ColourNet
from confusion_report import build
from confusion_report.distributed import Shard, merge
from confusion_report.pass_arrays import PassArrays

BUILDERS = Path(__file__).with_name("builders.py")


def _arrays(indices, skipped=(), conversions=None) -> PassArrays:
    idx = np.asarray(indices, dtype=np.int64)
    return PassArrays(
        indices=idx,
        logits=idx[:, None].astype(np.float32).repeat(2, axis=1),
        sizes=np.zeros((len(idx), 2), dtype=np.int32),
        extras={"embedding": idx[:, None].astype(np.float32)},
        conversions=conversions or {},
        skipped=tuple(skipped),
        seconds=float(len(idx)),
    )


def test_shards_cover_every_file_once() -> None:
    """Strided shards of 7 files over 3 ranks are disjoint and cover all positions."""
    shards = [Shard(r, 3, torch.device("cpu")).positions(7) for r in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(7))
    assert shards[0].tolist() == [0, 3, 6]


def test_merge_puts_rank_parts_back_in_file_order() -> None:
    """Rows, extras, skips and conversion counts merge in file order; seconds are the slowest rank's."""
    merged = merge(
        [_arrays([0, 4], skipped=[(2, "bad")], conversions={"alpha": 1}), _arrays([1, 3, 5], conversions={"alpha": 2})]
    )
    assert merged.indices.tolist() == [0, 1, 3, 4, 5]
    assert merged.logits[:, 0].tolist() == [0, 1, 3, 4, 5]
    assert merged.extras["embedding"][:, 0].tolist() == [0, 1, 3, 4, 5]
    assert merged.skipped == ((2, "bad"),) and merged.conversions == {"alpha": 3} and merged.seconds == 3.0


@pytest.mark.slow
def test_torchrun_two_ranks_match_one_process(colour_folder: Path, tmp_path: Path) -> None:
    """`torchrun --nproc-per-node 2` on the CPU writes one report whose numbers equal the single-process run."""
    (colour_folder / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")  # a skip on one shard
    model = tmp_path / "colour.pt"
    torch.save(ColourNet().state_dict(), model)
    args = ["--model", str(model), "--arch", f"{BUILDERS}:ColourNet", "--data", str(colour_folder)]
    args += ["--preset", "none", "--workers", "0", "--batch-size", "4", "--quiet"]
    src = str(Path(confusion_report.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "confusion_report", "build", *args, "--out", str(tmp_path / "dist.html")]
    cmd += ["--json", str(tmp_path / "dist.json"), "--cache", str(tmp_path / "cache")]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    dist = json.loads((tmp_path / "dist.json").read_text(encoding="utf-8"))
    single = build(
        model,
        colour_folder,
        arch=f"{BUILDERS}:ColourNet",
        preset="none",
        workers=0,
        batch_size=4,
        progress=False,
        out=tmp_path / "single.html",
    ).to_dict(include_media=False)
    assert dist["run"]["world_size"] == 2 and single["run"]["world_size"] == 1
    for key in ("metrics", "confusion", "pairs", "clusters", "galleries"):
        assert dist[key] == single[key], key
    assert dist["dataset"]["skipped"] == single["dataset"]["skipped"] != []
    assert dist["dataset"]["n_images"] == single["dataset"]["n_images"] == 41
    # Rank 0 stored the merged arrays; a single-process rebuild reuses them and agrees.
    reused = build(
        model,
        colour_folder,
        arch=f"{BUILDERS}:ColourNet",
        preset="none",
        workers=0,
        progress=False,
        out=tmp_path / "reused.html",
        cache_dir=tmp_path / "cache",
    )
    assert reused.run.pass_cache == "reused"
    assert reused.to_dict(include_media=False)["pairs"] == single["pairs"]
    # Only rank 0 writes and reports: one summary line among both ranks' output.
    assert done.stdout.count("wrote ") == 1, done.stdout
