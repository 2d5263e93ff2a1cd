"""Check, before any work, that every output of a build can be written.

A build can run for an hour; an ``--out`` in a folder that cannot be written must fail in the first
second, not after the pass. Each output is probed the way it will be written (a temporary file in
its folder, or a temporary folder where the folder must still be created), and the probe is removed
at once, so the check leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .config import BuildConfig
from .errors import ReportError


def check_output_paths(cfg: BuildConfig) -> None:
    """Raise a one-line :class:`ReportError` if the report, JSON, CSV or cache folder cannot be written."""
    seen: dict[Path, str] = {}
    for option, path in (("--out", cfg.out), ("--json", cfg.json_path), ("--predictions", cfg.predictions_path)):
        if path is None:
            continue
        check_writable_file(Path(path), option=option)
        where = Path(path).resolve()
        if where in seen:
            raise ReportError(f"{seen[where]} and {option} both name {path}; give each output its own file")
        seen[where] = option
    if cfg.cache_dir is not None:
        check_writable_folder(Path(cfg.cache_dir), option="--cache")


def check_writable_file(path: Path, *, option: str) -> None:
    """``path`` can be created or replaced (its folder exists and is writable, or can be created)."""
    if path.is_dir():
        raise ReportError(f"{option} {path} is a folder; give a file name, e.g. {path / 'report.html'}")
    _check_folder(path.parent, option=option, target=path)


def check_writable_folder(folder: Path, *, option: str) -> None:
    """``folder`` exists and is writable, or can be created."""
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{option} {folder} is a file, not a folder")
    _check_folder(folder, option=option, target=folder)


def _check_folder(folder: Path, *, option: str, target: Path) -> None:
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise ReportError(f"{option} {target}: {existing} is a file, not a folder; choose another path")
    try:
        if existing == folder:
            fd, probe = tempfile.mkstemp(prefix=".confusion-report-check-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        else:
            # The folders will be created by the write; creating one (and removing it) proves that they can be.
            os.rmdir(tempfile.mkdtemp(prefix=".confusion-report-check-", dir=existing))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReportError(
            f"{option} {target}: cannot write in {existing} ({reason}); choose a folder you can write to"
        ) from None


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its closest ancestor that exists (``.`` for a relative path with none)."""
    folder = Path(folder) if str(folder) else Path(".")
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return Path(".")
