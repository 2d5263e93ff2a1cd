"""Checkpoints of a long pass under ``--cache DIR``: a killed or crashed run resumes where it stopped.

Every ``every`` images (and when the pass fails or is interrupted) the pass stores the arrays of
the images it finished since the last checkpoint as one part, ``DIR/partial-<key>/part-NNNNN.npz``,
written atomically (a temporary file, then a rename), so a kill at any moment leaves whole parts
only. A part holds positions in the pass's file list, so the parts of several interrupted runs add
up. A rerun with the same fingerprint (same model, data and preprocessing) loads the parts and runs
only the images that none of them covers; the finished pass is then stored as the ordinary cache
entry, which removes the parts. A damaged part is skipped with a warning: its images run again.
Checkpoints are for a single process (under torchrun the ranks do not checkpoint).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .arrays_file import DamagedEntry, check_arrays, read_arrays, write_arrays
from .distributed import merge
from .pass_arrays import PassArrays

_PART = re.compile(r"part-(\d{5,})\.npz")


class PassCheckpoint:
    """The parts of one unfinished pass (folder ``partial-<key>`` in the cache folder)."""

    def __init__(self, folder: Path, *, key: str, every: int, log: Callable[[str], None]) -> None:
        if every < 1:
            raise ValueError("a checkpoint interval must be at least one image")
        self.folder = Path(folder)
        self.key = key
        self.every = every
        self.log = log
        self._next = 0

    def load(self, n: int) -> PassArrays | None:
        """What earlier runs finished of this pass of ``n`` images, merged; None when there is nothing."""
        parts: list[PassArrays] = []
        covered: set[int] = set()
        for path in self._part_paths():
            self._next = max(self._next, int(_PART.fullmatch(path.name)[1]) + 1)
            try:
                part = read_arrays(path, key=self.key)
                check_arrays(part, n=n)
                positions = covered_positions(part)
                if covered.intersection(positions.tolist()):
                    raise DamagedEntry("it repeats images of another part")
                if parts and not _same_layout(parts[0], part):
                    raise DamagedEntry("its arrays differ from the other parts'")
            except DamagedEntry as exc:
                self.log(f"warning: checkpoint {path} is damaged ({exc}); its images run again")
                continue
            covered.update(positions.tolist())
            parts.append(part)
        if not parts:
            return None
        merged = merge_parts(parts)
        return replace(merged, resumed=len(covered))

    def save(self, arrays: PassArrays) -> None:
        """Store one part (atomically); a failed write is a warning, since the pass itself is still fine."""
        path = self.folder / f"part-{self._next:05d}.npz"
        try:
            write_arrays(path, arrays, key=self.key)
        except OSError as exc:
            self.log(f"warning: could not write a checkpoint in {self.folder} ({exc.strerror or exc})")
            return
        self._next += 1

    def clear(self) -> None:
        """Remove every part (the finished pass is stored whole)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _part_paths(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _PART.fullmatch(p.name))


def covered_positions(arrays: PassArrays) -> np.ndarray:
    """Positions the arrays account for: the images used and the ones skipped (decode failure, non-finite)."""
    skipped = np.array([i for i, _ in arrays.skipped], dtype=np.int64)
    return np.union1d(arrays.indices.astype(np.int64), skipped)


def merge_parts(parts: Sequence[PassArrays]) -> PassArrays:
    """One set of arrays in position order from disjoint parts (notes kept once each, in order)."""
    merged = merge(parts)
    notes = tuple(dict.fromkeys(note for p in parts for note in p.notes))
    return replace(merged, notes=notes, resumed=sum(p.resumed for p in parts))


def _same_layout(a: PassArrays, b: PassArrays) -> bool:
    """Parts of one pass have the same outputs and the same per-image arrays (when they hold images)."""
    if len(a.indices) == 0 or len(b.indices) == 0:
        return True
    if a.logits.shape[1:] != b.logits.shape[1:] or set(a.extras) != set(b.extras):
        return False
    return all(
        a.extras[k].shape[1:] == b.extras[k].shape[1:] and a.extras[k].dtype == b.extras[k].dtype for k in a.extras
    )
