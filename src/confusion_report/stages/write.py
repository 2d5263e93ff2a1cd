"""Stage 6, write: the report, the results JSON and the predictions CSV, each written atomically."""

from __future__ import annotations

from collections.abc import Callable

from ..analyses.predictions import Predictions
from ..config import BuildConfig
from ..predictions_csv import predictions_csv
from ..render.html import write_atomic, write_report
from ..results import ReportData, SkippedFile


def write_outputs(
    cfg: BuildConfig,
    result: ReportData,
    predictions: Predictions,
    skipped: tuple[SkippedFile, ...],
    log: Callable[[str], None],
) -> None:
    """Write what ``cfg`` asks for (``out``, ``json_path``, ``predictions_path``); None skips one."""
    if cfg.out is not None:
        size = write_report(result, cfg.out)
        n_media = sum(len(v) for v in result.media.values())
        log(f"report: {cfg.out} ({size / 1e6:.2f} MB, of which thumbnails {n_media / 1e6:.2f} MB)")
    if cfg.json_path is not None:
        write_atomic(cfg.json_path, result.to_json())
        log(f"results: {cfg.json_path}")
    if cfg.predictions_path is not None:
        csv_text = predictions_csv(predictions, skipped, label_issues=result.label_issues)
        write_atomic(cfg.predictions_path, csv_text)
        log(f"predictions: {cfg.predictions_path}")
