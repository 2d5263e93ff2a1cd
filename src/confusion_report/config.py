"""BuildConfig: every option of a build, frozen. The CLI and the Python API both fill one in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .forward_budget import DEFAULT_SHARE


@dataclass(frozen=True)
class BuildConfig:
    """Options of ``confusion-report build`` (see ``--help`` for each)."""

    out: Path | None = Path("confusion-report.html")
    json_path: Path | None = None
    predictions_path: Path | None = None
    device: str = "auto"
    batch_size: int = 64
    workers: int = 2
    focus_classes: tuple[str, ...] = ()
    top_pairs: int = 6
    title: str | None = None
    arch: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    trust_pickle: bool = False
    class_names: Path | None = None
    preset: str | None = None  # None: the model's own preprocessing when it brings one, else imagenet
    resize: int | None = None
    crop: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    embedding_layer: str | None = None
    progress: bool = True
    command: str = "confusion_report.build()"
    # PCA by default: UMAP compiles its numba kernels in every new process and lays out 10k points
    # single-threaded when seeded (see analyses/projection.py); it stays one option away.
    projection: str = "pca"
    # Why the model decides: CAMs in the pass, overlays for the gallery images (see explain/).
    target_layer: str | None = None
    cams: bool = True
    explain: tuple[str, ...] = ("gradcam", "occlusion")
    cam_method: str = "gradcam"
    occlusion_window: int | None = None
    occlusion_stride: int | None = None
    explain_samples: int = 200
    # Extra forwards of the explain stage (CAMs the pass lacks, activation views, occlusion) as a fraction
    # of the pass's images; LIME and SHAP are outside it.
    explain_budget: float = DEFAULT_SHARE
    cache_dir: Path | None = None
    gpu_decode: bool = True
    # With cache_dir: images between two checkpoints of the pass (a killed run resumes after the last).
    checkpoint_every: int = 2000
    # Many classes (issue 13): CSV of class -> group; confusion within vs across groups.
    class_groups: Path | None = None
