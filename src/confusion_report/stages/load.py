"""Stage 1, load: index the data, load the model, resolve the preprocessing, probe, plan the collectors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..analyses.class_groups import read_class_groups
from ..analyses.projection import METHODS as PROJECTIONS
from ..batch import ImageDataset
from ..collectors.base import Collector
from ..collectors.embedding import EmbeddingCollector
from ..collectors.image_stats import ImageStatsCollector
from ..config import BuildConfig
from ..data import DatasetIndex, ImageRecord, discover, read_class_names
from ..engine import Probe, probe_model
from ..errors import DataError, ReportError
from ..loading import LoadedModel, find_final_linear, get_submodule, load_model, wrap_module
from ..preprocess import build_transform, resolve_preprocessing
from ..results import PreprocessInfo
from ..why import WhyPlan, plan_why


@dataclass(frozen=True)
class Setup:
    """Everything the pass and the analyses need to know before the first batch."""

    cfg: BuildConfig
    index: DatasetIndex
    model: LoadedModel
    model_source: nn.Module | str | Path  # what the user passed: a file path keys the pass cache by its bytes
    prep: PreprocessInfo
    transform: Callable[[Any], torch.Tensor]
    probe: Probe
    names: tuple[str, ...]  # the model's output names
    labels: np.ndarray  # per record, the index of its label in ``names``
    embedding_layer: str | None
    batch_size: int
    collectors: tuple[Collector, ...]
    why: WhyPlan
    warnings: tuple[str, ...]
    class_groups: dict[str, str] | None = None  # --class-groups: class -> group (issue 13)


def check_options(cfg: BuildConfig) -> None:
    """Options that can be refused before anything is read."""
    if cfg.top_pairs < 0:
        raise ReportError("--top-pairs must be 0 or more")
    if cfg.projection not in PROJECTIONS:
        raise ReportError(f"--projection must be one of {', '.join(PROJECTIONS)}")
    if not cfg.explain_budget > 0:
        raise ReportError("--explain-budget must be above 0")


def load(model: nn.Module | str | Path, data: str | Path | Any, cfg: BuildConfig, log: Callable[[str], None]) -> Setup:
    """Index the data and load the model; one probing forward tells the output count, embedding and layers."""
    index = discover(Path(data), only_classes=None) if isinstance(data, (str, Path)) else index_from_dataset(data)
    for s in index.skipped:
        log(f"warning: skipped {s.path}: {s.reason}")
    unknown_focus = [c for c in cfg.focus_classes if c not in index.classes]
    if unknown_focus:
        raise DataError(f"--classes names classes not in the data: {', '.join(unknown_focus)}")
    # Issue 13: read --class-groups before the pass, so a bad file fails in seconds.
    class_groups = read_class_groups(Path(cfg.class_groups), index.classes) if cfg.class_groups else None

    if isinstance(model, nn.Module):
        loaded = wrap_module(model)
    else:
        loaded = load_model(model, arch=cfg.arch, arch_kwargs=cfg.arch_kwargs, trust_pickle=cfg.trust_pickle)
    preset = cfg.preset or loaded.preprocessing or "imagenet"  # the model's own recipe unless one is named
    prep = resolve_preprocessing(preset=preset, resize=cfg.resize, crop=cfg.crop, mean=cfg.mean, std=cfg.std)
    log("preprocessing: " + " -> ".join(prep.steps))
    transform = build_transform(prep)
    embedding_layer = cfg.embedding_layer or (find_final_linear(loaded.module) if loaded.hookable else None)
    sample = first_sample(index, transform)
    probe = probe_model(
        loaded, sample, embedding_layer=embedding_layer, embedding_is_output=cfg.embedding_layer is not None
    )
    names = output_names(index, probe.num_outputs, cfg.class_names, model_names=loaded.class_names)
    warnings = list(loaded.notes)
    batch_size = cfg.batch_size
    if not probe.batchable:
        batch_size = 1
        warnings.append(
            "The model accepts only one image per call (exported with a static batch size?); "
            "the pass ran with batch size 1 and the gallery overlays, which run in batches, were left out."
        )
        # Overlays (pytorch-grad-cam, captum) batch their perturbations; they need a batchable model.
        cfg = dataclasses.replace(cfg, explain=())

    collectors: list[Collector] = []
    if probe.embedding_dim and embedding_layer:
        layer = get_submodule(loaded.module, embedding_layer)
        collectors.append(EmbeddingCollector(layer, output=cfg.embedding_layer is not None))
    collectors.append(ImageStatsCollector(mean=prep.mean, std=prep.std))
    why = plan_why(loaded, sample, cfg)  # Grad-CAM and stage activations ride along in the pass
    collectors.extend(why.collectors)
    warnings.extend(why.notes)
    position = {n: k for k, n in enumerate(names)}
    return Setup(
        cfg=cfg,
        index=index,
        model=loaded,
        model_source=model,
        prep=prep,
        transform=transform,
        probe=probe,
        names=names,
        labels=np.array([position[r.label] for r in index.records], dtype=np.int64),
        embedding_layer=embedding_layer,
        batch_size=batch_size,
        collectors=tuple(collectors),
        why=why,
        warnings=tuple(warnings),
        class_groups=class_groups,
    )


def index_from_dataset(dataset: Any) -> DatasetIndex:
    """Accept torchvision-style datasets that know their files (``samples`` and ``classes``)."""
    samples = getattr(dataset, "samples", None) or getattr(dataset, "imgs", None)
    classes = getattr(dataset, "classes", None)
    if samples is None or classes is None:
        raise DataError(
            "a dataset object must expose .samples [(path, class_index)] and .classes (as torchvision's "
            "ImageFolder does); otherwise pass a folder or a CSV manifest"
        )
    root = Path(getattr(dataset, "root", "."))
    records = []
    for path, target in samples:
        path = Path(path)
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.as_posix()
        records.append(ImageRecord(path, rel, classes[target]))
    return DatasetIndex(
        root=root, source="dataset", classes=tuple(classes), records=tuple(records), skipped=(), empty_classes=()
    )


def output_names(
    index: DatasetIndex, num_outputs: int, class_names: Path | None, *, model_names: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """Names of the model's outputs, checked against the data's labels: ``--class-names``, else the names the
    model carries (Hugging Face ``id2label``) when they cover every label, else the data's classes."""
    if class_names is not None:
        names = read_class_names(class_names)
        if len(names) != num_outputs:
            raise ReportError(f"--class-names lists {len(names)} names but the model has {num_outputs} outputs")
        unknown = sorted({r.label for r in index.records} - set(names))
        if unknown:
            raise DataError(f"labels not in --class-names: {', '.join(unknown[:10])}")
        return names
    labels = {r.label for r in index.records}
    if model_names is not None and len(model_names) == num_outputs and labels <= set(model_names):
        return model_names
    if num_outputs != len(index.classes):
        if model_names is not None:
            unknown = sorted(labels - set(model_names))
            raise DataError(f"labels not among the model's id2label names: {', '.join(unknown[:10])}")
        shown = ", ".join(index.classes[:6]) + (", ..." if len(index.classes) > 6 else "")
        raise ReportError(
            f"the model has {num_outputs} outputs but the data has {len(index.classes)} classes ({shown}); "
            "pass --class-names FILE with the model's output names in order"
        )
    return index.classes


def first_sample(index: DatasetIndex, transform: Callable) -> torch.Tensor:
    """The first decodable image, transformed (as the pass will see it): it probes the model before the pass."""
    dataset = ImageDataset([r.path for r in index.records[:64]], transform)
    for k in range(len(dataset)):
        _, tensor, _, _, _ = dataset[k]
        if tensor is not None:
            return tensor
    raise DataError("none of the first 64 images can be decoded")
