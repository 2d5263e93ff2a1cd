"""Thumbnails of the flipped images: from the runs' own media when they carry them, else from the files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..render.thumbnails import make_thumbnails
from ..results import ReportData


@dataclass(frozen=True)
class FlipMedia:
    """Thumbnails by path and where they came from, so the page can say which images it could show."""

    media: dict[str, str]
    from_runs: int
    from_files: int
    missing: tuple[str, ...]
    roots: tuple[str, ...]  # data folders that were readable here

    @property
    def note(self) -> str:
        """One sentence for the page: the source of the thumbnails and what could not be shown."""
        parts = []
        if self.from_runs:
            parts.append(f"{self.from_runs} from the thumbnails the results files carry")
        if self.from_files:
            parts.append(f"{self.from_files} made from the image files under {', '.join(self.roots)}")
        text = "Thumbnails: " + ("; ".join(parts) if parts else "none") + "."
        if self.missing:
            text += (
                f" {len(self.missing)} image(s) are listed by path only: the results files do not carry them "
                "and the data folder was not readable here."
            )
        return text


def flip_media(paths: list[str], base: ReportData, new: ReportData, *, from_files: bool = True) -> FlipMedia:
    """Look each path up in NEW's media, then BASE's; make the rest from ``dataset.root`` when it exists."""
    media: dict[str, str] = {}
    for p in dict.fromkeys(paths):
        uri = new.media.get(p) or base.media.get(p)
        if uri:
            media[p] = uri
    from_runs = len(media)
    wanted = [p for p in dict.fromkeys(paths) if p not in media]
    roots = []
    if from_files:
        for root in dict.fromkeys((new.dataset.root, base.dataset.root)):
            if not wanted or not root or not Path(root).is_dir():
                continue
            roots.append(root)
            made, failed = make_thumbnails(Path(root), wanted)
            media.update(made)
            wanted = failed
    return FlipMedia(
        media=media,
        from_runs=from_runs,
        from_files=len(media) - from_runs,
        missing=tuple(wanted),
        roots=tuple(roots),
    )
