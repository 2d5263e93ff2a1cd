"""The pass's arrays as one ``.npz`` file: written atomically, read back, and checked for damage.

Shared by the pass cache (:mod:`.cache`) and the checkpoints of an unfinished pass (:mod:`.checkpoint`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .pass_arrays import PassArrays


class DamagedEntry(ValueError):
    """A stored arrays file that cannot be read back as what was written (truncated, not a zip, wrong arrays)."""


def write_arrays(path: Path, arrays: PassArrays, *, key: str) -> None:
    """Write ``arrays`` to ``path`` as ``.npz`` atomically (temporary file + rename), so an interrupted or
    concurrent run never leaves half a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "key": key,
        "extras": sorted(arrays.extras),
        "conversions": arrays.conversions,
        "skipped": [list(s) for s in arrays.skipped],
        "seconds": arrays.seconds,
        "notes": list(arrays.notes),
    }
    payload = {f"extra_{k}": v for k, v in arrays.extras.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                indices=arrays.indices,
                logits=arrays.logits,
                sizes=arrays.sizes,
                meta=np.array(json.dumps(meta)),
                **payload,
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_arrays(path: Path, *, key: str) -> PassArrays:
    """Read what :func:`write_arrays` wrote; raise :class:`DamagedEntry` on any damage, whatever its kind."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("key") != key:
                raise DamagedEntry("it was written for another key")
            arrays = PassArrays(
                indices=z["indices"],
                logits=z["logits"],
                sizes=z["sizes"],
                extras={name: z[f"extra_{name}"] for name in meta["extras"]},
                conversions={str(k): int(v) for k, v in dict(meta["conversions"]).items()},
                skipped=tuple((int(i), str(r)) for i, r in meta["skipped"]),
                seconds=float(meta["seconds"]),
                notes=tuple(str(n) for n in meta.get("notes", ())),
            )
    except DamagedEntry:
        raise
    except Exception as exc:  # zipfile, zlib, numpy, json and OS errors all mean "damaged"
        raise DamagedEntry(_describe(exc)) from None
    check_arrays(arrays)
    return arrays


def check_arrays(arrays: PassArrays, *, n: int | None = None) -> None:
    """Raise :class:`DamagedEntry` unless the arrays agree with each other (and with ``n`` images)."""
    rows = len(arrays.indices)
    if arrays.indices.ndim != 1 or arrays.indices.dtype.kind not in "iu":
        raise DamagedEntry("wrong arrays: the image positions are not a list of integers")
    if arrays.logits.ndim != 2 or len(arrays.logits) != rows or arrays.sizes.shape != (rows, 2):
        raise DamagedEntry(f"wrong arrays: {rows} images but logits {arrays.logits.shape}, sizes {arrays.sizes.shape}")
    for name, value in arrays.extras.items():
        if value.ndim < 1 or len(value) != rows:
            raise DamagedEntry(f"wrong arrays: {name!r} has {len(value) if value.ndim else 0} rows, not {rows}")
    if rows and (np.any(np.diff(arrays.indices) <= 0) or arrays.indices[0] < 0):
        raise DamagedEntry("wrong arrays: the image positions are not sorted and unique")
    positions = {int(i) for i in arrays.indices}
    if any(i in positions for i, _ in arrays.skipped):
        raise DamagedEntry("wrong arrays: an image is both used and skipped")
    if n is not None and (max(positions | {i for i, _ in arrays.skipped}, default=-1) >= n):
        raise DamagedEntry(f"wrong arrays: an image position beyond the {n} images of this pass")
    if not np.isfinite(arrays.logits).all():
        raise DamagedEntry("wrong arrays: non-finite logits")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
