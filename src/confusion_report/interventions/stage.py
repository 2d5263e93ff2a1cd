"""The analyse stage's intervention step: load the findings' images again, edit them, re-run the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..analyses.image_stats import ImageStats
from ..analyses.predictions import Predictions
from ..data import load_rgb
from ..findings.intervention_update import apply_interventions
from ..loading import LoadedModel
from ..outputs import logits_module
from ..results import Finding, PreprocessInfo
from .outcome import InterventionOutcome
from .run import run_interventions


def path_loader(
    paths: Sequence[str], *, root: Path, transform: Callable[[Any], torch.Tensor]
) -> Callable[[np.ndarray], tuple[torch.Tensor | None, np.ndarray]]:
    """Indices into ``paths`` -> their preprocessed tensors, as the pass made them (undecodable ones left out)."""

    def load(indices: np.ndarray) -> tuple[torch.Tensor | None, np.ndarray]:
        tensors, ok = [], []
        for i in indices:
            try:
                img, _ = load_rgb(root / paths[int(i)])
                tensors.append(transform(img))
            except (ValueError, OSError):
                continue
            ok.append(int(i))
        return (torch.stack(tensors) if tensors else None), np.asarray(ok, dtype=np.int64)

    return load


def intervene(
    findings: Sequence[Finding],
    *,
    loaded: LoadedModel,
    predictions: Predictions,
    stats: ImageStats | None,
    root: Path,
    transform: Callable[[Any], torch.Tensor],
    prep: PreprocessInfo,
    device: torch.device,
    batch_size: int,
    budget: int,
    log: Callable[[str], None],
) -> tuple[tuple[Finding, ...], InterventionOutcome]:
    """Run the interventions of the attention and slice findings, within ``budget`` extra forwards
    (:func:`~confusion_report.forward_budget.intervention_forwards`), and word their results into them."""
    outcome = run_interventions(
        findings,
        model=logits_module(loaded.module).to(device),
        predictions=predictions,
        load=path_loader(predictions.paths, root=root, transform=transform),
        stats=stats,
        mean=prep.mean,
        std=prep.std,
        device=device,
        budget=budget,
        batch_size=batch_size,
    )
    if outcome.results:
        log(
            f"interventions: {len(outcome.results)} finding(s) tested with {outcome.forwards} extra forwards "
            f"(budget {outcome.budget}) in {outcome.seconds:.1f} s"
        )
    return apply_interventions(findings, outcome.results), outcome
