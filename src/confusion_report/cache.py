"""``--cache DIR``: keep the pass's per-image arrays so re-rendering with other options skips the pass.

The arrays are stored as one ``.npz`` per fingerprint. The fingerprint covers everything the arrays
depend on: the model (a hash of the file's bytes, or of a live module's tensors), its architecture
options, the data (every file's path, label, size and modification time), the preprocessing, the
embedding layer, the collectors that ran, the device type and decoding path, and the tool version.
Options that only shape the report (``--classes``, ``--top-pairs``, ``--title``, outputs) are not in
it, so changing them reuses the arrays; touching any image or the model file invalidates them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .arrays_file import DamagedEntry, read_arrays, write_arrays
from .checkpoint import PassCheckpoint
from .pass_arrays import PassArrays

CACHE_FORMAT = 1
# Images between two checkpoints of a pass under --cache: a killed run loses at most this many.
DEFAULT_CHECKPOINT_EVERY = 2000


def file_digest(path: Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks so a large checkpoint never sits in memory twice."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def folder_digest(path: Path) -> str:
    """SHA-256 over a model folder's files (a Hugging Face folder): their relative names and bytes."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(file.relative_to(path).as_posix().encode() + b"\0" + file_digest(file).encode())
    return h.hexdigest()


def module_digest(module: Any) -> str:
    """SHA-256 of a live module's class and its state_dict tensors (names, shapes, dtypes, values)."""
    import torch

    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def data_digest(files: Iterable[tuple[Path, str, str]]) -> str:
    """SHA-256 over (path, relative path, label, size, mtime) of each file, in pass order."""
    h = hashlib.sha256()
    for path, rel, label in files:
        st = os.stat(path)
        h.update(f"{rel}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A stable hex key for a mapping of JSON-able parts (sorted keys, so order never matters)."""
    blob = json.dumps({"format": CACHE_FORMAT, "tool": __version__, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


class PassCache:
    """One cache folder; :meth:`load` and :meth:`save` the arrays of the pass with a given key.

    ``log`` receives the one-line warnings (a damaged entry, a failed write); by default they go to
    stderr.
    """

    def __init__(self, folder: Path, *, log: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self.log = log or _to_stderr

    def path_for(self, key: str) -> Path:
        """Where the arrays of ``key`` live."""
        return self.folder / f"pass-{key}.npz"

    def load(self, key: str) -> PassArrays | None:
        """The stored arrays, or None when absent or damaged: a damaged entry is a miss, with a warning."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            return read_arrays(path, key=key)
        except DamagedEntry as exc:
            self.log(f"warning: cache entry {path} is damaged ({exc}); ignoring it, the pass runs again")
            return None

    def save(self, key: str, arrays: PassArrays) -> Path | None:
        """Store the finished pass (atomically) and drop its checkpoints; None, with a warning, if it fails.

        The cache only saves time: a full disk must not cost the report that the pass just made.
        """
        path = self.path_for(key)
        try:
            write_arrays(path, arrays, key=key)
        except OSError as exc:
            self.log(f"warning: could not store the pass in {self.folder} ({exc.strerror or exc}); continuing")
            return None
        self.checkpoint(key).clear()
        self.log(f"cache: stored {path}")
        return path

    def checkpoint(self, key: str, *, every: int = DEFAULT_CHECKPOINT_EVERY) -> PassCheckpoint:
        """The checkpoints of the (unfinished) pass with ``key``, written every ``every`` images."""
        return PassCheckpoint(self.folder / f"partial-{key}", key=key, every=every, log=self.log)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def pass_key(
    *,
    model: Any,
    model_options: Mapping[str, Any],
    files: Sequence[tuple[Path, str, str]],
    output_names: Sequence[str],
    preprocessing: Any,
    embedding_layer: str | None,
    collectors: Sequence[Any],
    device_type: str,
    decode: str,
) -> str:
    """The fingerprint of one pass (see the module docstring for what it covers and what it leaves out)."""
    if isinstance(model, (str, Path)):
        model_id = "dir:" + folder_digest(Path(model)) if Path(model).is_dir() else "file:" + file_digest(Path(model))
    else:
        model_id = "module:" + module_digest(model)
    prep = preprocessing
    return fingerprint(
        {
            "model": model_id,
            "model_options": dict(model_options),
            "data": data_digest(files),
            "n": len(files),
            "outputs": list(output_names),
            "preprocessing": [prep.resize, prep.crop, prep.mean, prep.std, prep.interpolation, prep.resize_to],
            "embedding_layer": embedding_layer,
            # A collector whose arrays depend on options names them in ``cache_key``.
            "collectors": [
                [type(c).__name__, getattr(c, "name", ""), str(getattr(c, "cache_key", ""))] for c in collectors
            ],
            "device": device_type,
            "decode": decode,
        }
    )
