"""Depth of separation, on a model whose first stage cannot tell the classes apart by construction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from confusion_report.analyses.predictions import Predictions
from confusion_report.analyses.separation import compute_separation
from confusion_report.collectors.stages import StageCollector
from confusion_report.render.separation import separation_svg
from confusion_report.results import Pair, PairSeparation, Separation, StageScore
from why_builders import halves_batch, train_staged

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pair(true: str, pred: str) -> Pair:
    return Pair(true, pred, 1, 0.1, 1.0, 0, 0.9, f"pair-{true}-{pred}")


def test_separability_rises_with_depth_where_the_model_separates() -> None:
    """Pooled stage1 sees only colours (the same for both classes): chance; stage2 sees their order: separable."""
    net = train_staged()
    x, y = halves_batch(160, seed=1)
    stages = StageCollector({"stage1": net.stage1, "stage2": net.stage2})
    stages.attach(net, len(x))
    with torch.inference_mode():
        logits = net(x)
        stages.after_forward(np.arange(len(x)), x, logits, y)
    stages.detach()
    arrays = stages.result(np.arange(len(x)))
    preds = Predictions(
        names=("left-red", "left-blue"),
        paths=tuple(f"{i}.png" for i in range(len(x))),
        labels=y.numpy(),
        logits=logits.numpy(),
    )
    sep = compute_separation(
        preds,
        {"stage1": arrays["stage:stage1"], "stage2": arrays["stage:stage2"]},
        (_pair("left-red", "left-blue"),),
        top_pairs=1,
    )
    acc = {s.stage: s.accuracy for s in sep.pairs[0].stages}
    assert acc["stage1"] < 0.7
    assert acc["stage2"] > 0.95
    assert sep.pairs[0].best_stage == "stage2"


def test_separation_chart_draws_one_point_per_stage_and_pair() -> None:
    """The SVG has a circle per (pair, stage) with the accuracy in its tooltip."""
    scores = (StageScore("layer1", 16, 0.55, 0.02), StageScore("layer2", 32, 0.9, 0.01))
    sep = Separation(
        "probe",
        ("layer1", "layer2"),
        (
            PairSeparation("cat", "dog", "pair-cat-dog", 50, scores, "layer2", 0.9),
            PairSeparation("car", "truck", "pair-car-truck", 50, scores, "layer2", 0.9),
        ),
    )
    svg = str(separation_svg(sep))
    assert svg.count("<circle") == 4
    assert "cat vs dog at layer2: 90.0%" in svg
    assert str(separation_svg(sep, only="pair-car-truck")).count("<circle") == 2


def test_render_and_analyses_of_the_why_parts_do_not_import_torch() -> None:
    """Re-rendering a report (attention maps, overlays, charts) works without torch."""
    code = (
        "import sys\n"
        "import confusion_report.render.html, confusion_report.render.overlay, confusion_report.render.separation\n"
        "import confusion_report.analyses.attention, confusion_report.analyses.separation\n"
        "import confusion_report.analyses.channels\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": _src()})


def _src() -> str:
    return str(Path(__file__).resolve().parents[1] / "src")
