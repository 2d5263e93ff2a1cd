"""``confusion_report.diff(base, new, ...)``: compare two runs and hold everything the outputs need."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..results import ReportData
from .compare import BOOTSTRAP, compare
from .gates import GateResult, Gates, check_gates
from .load import read_run
from .media import FlipMedia, flip_media
from .results import Comparison, RunSummary

# Flip galleries show the most confident flips first; the rest are listed by path.
GALLERY_LIMIT = 48


@dataclass(frozen=True)
class DiffResult:
    """A finished diff: the comparison, the gates' verdicts, the two runs and the flip thumbnails."""

    comparison: Comparison
    gates: tuple[GateResult, ...]
    base: RunSummary
    new: RunSummary
    media: FlipMedia
    title: str
    report_url: str | None = None

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        """The gates that failed, in the order they were checked."""
        return tuple(g for g in self.gates if not g.passed)

    @property
    def exit_code(self) -> int:
        """The command's exit status: 0 when every gate passed (or none was asked for), 1 otherwise."""
        return 1 if self.failed_gates else 0

    def markdown(self) -> str:
        """The GitHub-flavoured summary for a pull-request comment (starts with the hidden marker)."""
        from .markdown import diff_markdown

        return diff_markdown(self)

    def to_html(self) -> str:
        """The self-contained diff page as a string."""
        from .render import render_diff_html

        return render_diff_html(self)

    def save(self, path: str | Path) -> int:
        """Write the diff page to ``path`` atomically; return its size in bytes."""
        from ..render.html import write_atomic

        html = self.to_html()
        write_atomic(Path(path), html)
        return len(html.encode("utf-8"))

    def _repr_html_(self) -> str:
        """Jupyter shows the whole diff page inline, in a sandboxed iframe that cannot reach the network."""
        from ..render.notebook import notebook_iframe

        return notebook_iframe(self.to_html(), title=self.title)


def _summary(run: ReportData, label: str) -> RunSummary:
    return RunSummary(
        label=label,
        title=run.title,
        model=run.model.path,
        created=run.created,
        command=run.command,
        n_images=run.dataset.n_images,
    )


def _run(value: ReportData | str | Path, which: str) -> tuple[ReportData, str]:
    if isinstance(value, ReportData):
        return value, value.title
    return read_run(Path(value), which=which), Path(value).name


def diff(
    base: ReportData | str | Path,
    new: ReportData | str | Path,
    *,
    title: str | None = None,
    report_url: str | None = None,
    max_accuracy_drop: float | None = None,
    max_class_recall_drop: float | None = None,
    fail_on_new_finding: str | None = None,
    thumbnails_from_files: bool = True,
    bootstrap: int = BOOTSTRAP,
) -> DiffResult:
    """Compare NEW against BASE on the images both saw; each is a ReportData, a results JSON or a report.

    Gate thresholds are in percentage points (``max_class_recall_drop`` counts a class only when its
    drop is significant for its support); ``fail_on_new_finding`` is "high" or "medium". Nothing is
    written: call ``.save(path)`` or ``.markdown()`` on the result.
    """
    base_run, base_label = _run(base, "BASE")
    new_run, new_label = _run(new, "NEW")
    gates = Gates(
        max_accuracy_drop=max_accuracy_drop,
        max_class_recall_drop=max_class_recall_drop,
        fail_on_new_finding=fail_on_new_finding,
    )
    comparison = compare(base_run, new_run, bootstrap=bootstrap)
    shown = [f.path for f in comparison.right_to_wrong[:GALLERY_LIMIT]]
    shown += [f.path for f in comparison.wrong_to_right[:GALLERY_LIMIT]]
    return DiffResult(
        comparison=comparison,
        gates=check_gates(comparison, gates),
        base=_summary(base_run, base_label),
        new=_summary(new_run, new_label),
        media=flip_media(shown, base_run, new_run, from_files=thumbnails_from_files),
        title=title or f"Diff: {new_label} vs {base_label}",
        report_url=report_url,
    )
