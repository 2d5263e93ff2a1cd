"""The Python API: ``confusion_report.build(model, data, ...)`` mirrors ``confusion-report build``.

A build is six named stages (see :mod:`confusion_report.stages`); this module only calls them in order.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from torch import nn

from .config import BuildConfig
from .loading import LoadedModel
from .output_paths import check_output_paths
from .results import ReportData
from .stages.analyse import analyse
from .stages.assemble import assemble
from .stages.load import check_options, load
from .stages.media import MediaEncoder, media_stage
from .stages.run_pass import pass_stage
from .stages.write import write_outputs


def build(
    model: nn.Module | str | Path,
    data: str | Path | Any,
    *,
    config: BuildConfig | None = None,
    **options: Any,
) -> ReportData | None:
    """Run the whole build and write what ``config`` asks for (report, JSON, predictions CSV).

    ``model`` is a live ``nn.Module`` or a model file; ``data`` an ImageFolder-layout folder, a CSV
    manifest, or a torchvision-style dataset with ``samples`` and ``classes``. Options are those of
    :class:`~confusion_report.config.BuildConfig`, by keyword. Returns the :class:`ReportData`; under
    ``torchrun`` only rank 0 does, the other ranks run their shard of the pass and return None.
    """
    cfg = dataclasses.replace(config or BuildConfig(), **options)
    started = time.perf_counter()
    log = _logger(cfg)
    check_options(cfg)
    check_output_paths(cfg)  # an unwritable output fails now, within seconds, not after the pass

    setup = load(model, data, cfg, log)  # 1. data index, model, preprocessing, probe, collectors
    done = pass_stage(setup, log)  # 2. the one pass (or its cached arrays), sharded under torchrun
    if done is None:
        return None  # a torchrun rank other than 0: rank 0 analyses and writes
    # 4. every thumbnail and overlay, encoded on background threads from the moment 3. knows them
    with MediaEncoder(setup.index.root) as encoder:
        analysis = analyse(setup, done, log, encoder=encoder)  # 3. core, feature space, why, diagnostics, findings
        media = media_stage(analysis, root=setup.index.root, encoder=encoder)
    result = assemble(setup, done, analysis, media, seconds_total=time.perf_counter() - started)  # 5.
    write_outputs(cfg, result, done.predictions, done.skipped, log)  # 6.
    return result


def _logger(cfg: BuildConfig):
    def log(message: str) -> None:
        if cfg.progress:
            print(message, file=sys.stderr)

    return log


__all__ = ["BuildConfig", "LoadedModel", "build"]
