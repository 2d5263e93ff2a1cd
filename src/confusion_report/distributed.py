"""Shard the one pass across processes, GPUs and machines started by ``torchrun``.

Launched by torchrun (``WORLD_SIZE`` > 1 in the environment), every rank discovers the same sorted
file list, runs the pass over its own shard (every ``world_size``-th file, so each shard sees every
class) on its own device (``cuda:LOCAL_RANK`` or the CPU), and sends its per-image arrays to rank 0.
Rank 0 merges them back into file order, runs the analyses and writes the report; the other ranks
write nothing. The process group uses NCCL on CUDA and gloo on the CPU; one that the caller already
initialised is used as it is and left open.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import ReportError
from .pass_arrays import PassArrays


@dataclass(frozen=True)
class Shard:
    """This process's place in the run: its rank, how many ranks there are, and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 runs the analyses and writes every output."""
        return self.rank == 0

    def positions(self, n: int) -> np.ndarray:
        """The positions (in the full file list) this rank runs: every ``world_size``-th, from ``rank``."""
        return np.arange(self.rank, n, self.world_size, dtype=np.int64)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object)."""
        if self.world_size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def launched_world_size() -> int:
    """The number of ranks torchrun started (1 when not launched by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


@contextmanager
def session(device: torch.device) -> Iterator[Shard]:
    """Join the torchrun process group when launched by it; otherwise a single rank on ``device``."""
    world = launched_world_size()
    if world <= 1:
        yield Shard(0, 1, device)
        return
    import torch.distributed as dist

    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)  # NCCL's object collectives use the current device
    created = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        created = True
    try:
        yield Shard(dist.get_rank(), dist.get_world_size(), device)
    finally:
        if created:
            dist.destroy_process_group()


def run_sharded(run: Callable[[np.ndarray], PassArrays], n: int, shard: Shard) -> PassArrays | None:
    """Run ``run(positions)`` on this rank's shard of ``n`` files; rank 0 returns the merged arrays, others None.

    ``run`` returns arrays whose ``indices`` and skip positions refer to its own ``positions``; they
    are mapped back to positions in the full list before the merge.
    """
    positions = shard.positions(n)
    local = run(positions)
    if shard.world_size == 1:
        return local
    import torch.distributed as dist

    mapped = PassArrays(
        indices=positions[local.indices],
        logits=local.logits,
        sizes=local.sizes,
        extras=local.extras,
        conversions=local.conversions,
        skipped=tuple((int(positions[i]), reason) for i, reason in local.skipped),
        seconds=local.seconds,
        notes=local.notes,
    )
    parts: list[PassArrays] | None = [None] * shard.world_size if shard.is_main else None  # type: ignore[list-item]
    dist.gather_object(mapped, parts, dst=0)
    return merge(parts) if shard.is_main else None


def merge(parts: Sequence[PassArrays]) -> PassArrays:
    """One set of arrays in file order from the ranks' parts (the pass took as long as its slowest rank)."""
    indices = np.concatenate([p.indices for p in parts])
    order = np.argsort(indices, kind="stable")
    extras: dict[str, np.ndarray] = {}
    for name in sorted({k for p in parts for k in p.extras}):
        pieces = [p.extras[name] for p in parts if name in p.extras]
        rows = sum(len(p.indices) for p in parts if name in p.extras)
        if rows != len(indices):
            raise ReportError(f"ranks disagree on the per-image array {name!r}; some ranks did not collect it")
        extras[name] = np.concatenate(pieces)[order]
    conversions: dict[str, int] = {}
    for p in parts:
        for kind, count in p.conversions.items():
            conversions[kind] = conversions.get(kind, 0) + count
    return PassArrays(
        indices=indices[order],
        logits=np.concatenate([p.logits for p in parts])[order],
        sizes=np.concatenate([p.sizes for p in parts])[order],
        extras=extras,
        conversions=dict(sorted(conversions.items())),
        skipped=tuple(sorted(s for p in parts for s in p.skipped)),
        seconds=max(p.seconds for p in parts),
        notes=tuple(dict.fromkeys(note for p in parts for note in p.notes)),
    )
