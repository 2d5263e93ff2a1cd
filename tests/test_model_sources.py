"""Models and preprocessing from where they live, local files only: timm and torchvision state dicts
(``.pt`` or ``.safetensors``), Hugging Face image-classification folders, and the recipes that come with
them (torchvision weights' transforms, timm's pretrained_cfg, preprocessor_config.json)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from confusion_report import build
from confusion_report.errors import ModelLoadError
from confusion_report.loading import load_model
from confusion_report.outputs import logits_of
from confusion_report.preprocess import build_transform, resolve_preprocessing
from why_builders import save

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download: models are built from configs


def _folder(root: Path, classes: tuple[str, ...], *, side: int = 40, n: int = 3) -> Path:
    rng = np.random.default_rng(1)
    for c in classes:
        for i in range(n):
            save(rng.uniform(0, 1, (side, side + 8, 3)), root / c / f"{i}.png")
    return root


def test_torchvision_weights_preset_reads_the_weights_own_transforms() -> None:
    """ResNet50_Weights.IMAGENET1K_V2 resizes to 232 and crops 224 (not the 256/224 default), bilinear."""
    info = resolve_preprocessing(preset="torchvision:ResNet50_Weights.IMAGENET1K_V2")
    assert (info.resize, info.crop, info.interpolation) == (232, 224, "bilinear")
    assert info.preset == "torchvision:ResNet50_Weights.IMAGENET1K_V2"
    vit = resolve_preprocessing(preset="torchvision:ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1")
    assert (vit.resize, vit.crop, vit.interpolation) == (384, 384, "bicubic")
    assert any("bicubic" in s for s in vit.steps)


def test_safetensors_state_dict_loads_for_a_torchvision_arch(tmp_path: Path) -> None:
    """A .safetensors state dict with --arch torchvision:NAME gives the same logits as the module it came from."""
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    loaded = load_model(tmp_path / "w.safetensors", arch="torchvision:resnet18")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), model(x))
    assert loaded.format == "safetensors"
    with pytest.raises(ModelLoadError, match="--arch"):
        load_model(tmp_path / "w.safetensors")


def _tiny_timm_kwargs() -> dict:
    return {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_timm_arch_loads_a_state_dict_and_brings_its_preprocessing(suffix: str, tmp_path: Path) -> None:
    """--arch timm:NAME builds the model with random weights (nothing downloads), fills it from the file
    and takes timm's pretrained_cfg as the preprocessing unless a preset is named."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=2, **_tiny_timm_kwargs()).eval()
    path = tmp_path / f"w{suffix}"
    if suffix == ".pt":
        torch.save({"state_dict": model.state_dict()}, path)
    else:
        from safetensors.torch import save_file

        save_file(model.state_dict(), path)
    loaded = load_model(path, arch="timm:vit_small_patch16_224", arch_kwargs=_tiny_timm_kwargs())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), model(x))
    spec = loaded.preprocessing
    assert spec.name == "timm:vit_small_patch16_224" and spec.interpolation == "bicubic"
    assert (spec.crop, spec.resize, spec.mean) == (224, 248, (0.5, 0.5, 0.5))  # crop_pct 0.9: floor(224 / 0.9)


def _hf_folder(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        id2label={0: "tabby cat", 1: "dog"},
        label2id={"tabby cat": 0, "dog": 1},
    )
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    folder = tmp_path / "hf-model"
    model.save_pretrained(folder)
    processor = {
        "do_resize": True,
        "size": {"height": 32, "width": 32},
        "resample": 3,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    return folder, model


def test_hugging_face_folder_builds_with_its_labels_and_preprocessing(tmp_path: Path) -> None:
    """config.json + model.safetensors as --model DIR: class names from id2label (in the model's order, not
    the folders'), preprocessing from preprocessor_config.json (exact 32x32 resize, bicubic, mean 0.5), the
    CAM inside the last encoder layer, tokens read as a 4x4 grid."""
    folder, model = _hf_folder(tmp_path)
    loaded = load_model(folder)
    assert loaded.format == "huggingface" and loaded.class_names == ("tabby cat", "dog")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(logits_of(loaded.module(x)), model(x).logits)
    data = _folder(tmp_path / "data", ("dog", "tabby cat"))
    result = build(str(folder), data, out=None, workers=0, progress=False, projection="pca", explain=("gradcam",))
    assert result.metrics.per_class[0].name in ("tabby cat", "dog")
    assert result.confusion.classes == ("tabby cat", "dog")
    assert result.preprocessing.preset == "hf:preprocessor_config.json"
    assert (result.preprocessing.resize_to, result.preprocessing.interpolation) == ((32, 32), "bicubic")
    assert result.model.input_size == (3, 32, 32)
    assert result.model.target_layer.endswith("layers.1.layernorm_before")
    assert result.model.target_layout == "tokens (N, L, C): 1 leading token dropped, 4x4 grid"


def test_hugging_face_folder_with_pytorch_model_bin_loads(tmp_path: Path) -> None:
    """The older pytorch_model.bin weights (a torch.save state dict, read weights-only) load as well."""
    folder, model = _hf_folder(tmp_path)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(logits_of(load_model(folder).module(x)), model(x).logits)


def test_a_folder_without_weights_is_refused_with_a_reason(tmp_path: Path) -> None:
    """A folder with config.json but no weights names what it lacks."""
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="no weights"):
        load_model(tmp_path)


@dataclass
class _Output:
    loss: torch.Tensor | None
    logits: torch.Tensor


def test_output_objects_dicts_and_tuples_unwrap_to_the_logits() -> None:
    """Dataclass outputs (as Hugging Face's), dicts and tuples give their logits."""
    t = torch.rand(2, 3)
    assert logits_of(_Output(None, t)) is t
    assert logits_of({"aux": torch.rand(2), "logits": t}) is t
    assert logits_of((t, torch.rand(2, 5))) is t
    assert logits_of([{"logits": t}]) is t


def test_exact_size_resize_squashes_to_the_asked_size() -> None:
    """A recipe with resize_to (Hugging Face's height/width) resizes a non-square image to exactly that size."""
    from confusion_report.preprocess_sources import PresetSpec

    spec = PresetSpec("hf:x", None, None, (0.5,) * 3, (0.5,) * 3, interpolation="bicubic", resize_to=(24, 24))
    from PIL import Image

    x = build_transform(resolve_preprocessing(preset=spec))(Image.new("RGB", (60, 30)))
    assert x.shape == (3, 24, 24)


def test_cli_builds_from_a_hugging_face_folder_and_caches_by_its_files(tmp_path: Path) -> None:
    """``--model DIR`` on the command line; a second build with --cache reuses the pass (the folder's files
    key it), and prints the folder's preprocessing."""
    from click.testing import CliRunner

    from confusion_report.cli import main

    folder, _ = _hf_folder(tmp_path)
    data = _folder(tmp_path / "data", ("dog", "tabby cat"))
    args = ["build", "--model", str(folder), "--data", str(data), "--out", str(tmp_path / "r.html")]
    args += ["--workers", "0", "--projection", "pca", "--explain", "none", "--cache", str(tmp_path / "cache")]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "resize to 32x32 px (bicubic" in first.output
    again = CliRunner().invoke(main, args, catch_exceptions=False)
    assert again.exit_code == 0 and "cache" in again.output.lower()
