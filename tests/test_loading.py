"""Every supported model format loads into an eval-mode module that gives the same logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from builders import ColourNet
from confusion_report.errors import ModelLoadError
from confusion_report.loading import find_final_linear, load_model, parse_arch_kwargs, sniff_format

BUILDERS = Path(__file__).with_name("builders.py")


class DropoutNet(ColourNet):
    """ColourNet with dropout before the head: only eval mode gives deterministic logits."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__(num_classes)
        self.drop = nn.Dropout(0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.pool(self.features(x)).flatten(1)))


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(4, 3, 16, 16)


def _same_logits(module: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        assert torch.allclose(module(x), ColourNet().eval()(x), atol=1e-5)


def test_export_pt2_loads_hookable_with_named_layers(tmp_path: Path, x: torch.Tensor) -> None:
    """A torch.export .pt2 loads through unflatten, so layers keep their names and take hooks."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(ColourNet().eval(), (x,), dynamic_shapes=({0: batch},))
    path = tmp_path / "m.pt2"
    torch.export.save(program, str(path))
    loaded = load_model(path)
    assert (loaded.format, loaded.hookable) == ("export", True)
    assert find_final_linear(loaded.module) == "fc"
    _same_logits(loaded.module, x)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_loads_but_is_marked_unhookable(tmp_path: Path, x: torch.Tensor) -> None:
    """TorchScript runs; the loaded model says it takes no hooks and why."""
    path = tmp_path / "m.ts"
    torch.jit.save(torch.jit.trace(ColourNet().eval(), x), str(path))
    assert sniff_format(path) == "torchscript"
    loaded = load_model(path)
    assert (loaded.format, loaded.hookable) == ("torchscript", False)
    assert "hooks" in loaded.notes[0]
    _same_logits(loaded.module, x)


@pytest.mark.parametrize("arch", ["builders:ColourNet", f"{BUILDERS}:ColourNet"])
def test_state_dict_with_arch_from_module_or_file(tmp_path: Path, x: torch.Tensor, arch: str) -> None:
    """A state_dict loads with --arch given as package.module:factory or path/to/file.py:Class."""
    path = tmp_path / "w.pt"
    torch.save(ColourNet().state_dict(), path)
    loaded = load_model(path, arch=arch)
    assert loaded.format == "state_dict" and not loaded.module.training
    _same_logits(loaded.module, x)


def test_state_dict_nested_and_prefixed_is_unwrapped(tmp_path: Path, x: torch.Tensor) -> None:
    """{'state_dict': {'module.x': ...}} (a DataParallel checkpoint) loads like a plain state_dict."""
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ColourNet().state_dict().items()}, "epoch": 3}, path)
    _same_logits(load_model(path, arch="builders:ColourNet").module, x)


def test_torchvision_arch_with_kwargs_and_inferred_classes(tmp_path: Path) -> None:
    """torchvision:NAME builds the architecture; num_classes comes from the weights unless given."""
    import torchvision

    path = tmp_path / "r18.pt"
    torch.save(torchvision.models.resnet18(num_classes=7).state_dict(), path)
    loaded = load_model(path, arch="torchvision:resnet18")
    assert loaded.module.fc.out_features == 7
    kwargs = parse_arch_kwargs('{"num_classes": 7}')
    assert load_model(path, arch="torchvision:resnet18", arch_kwargs=kwargs).module.fc.out_features == 7


def test_arch_kwargs_reach_the_factory(tmp_path: Path) -> None:
    """--arch-kwargs JSON is passed to the class."""
    path = tmp_path / "w.pt"
    torch.save(ColourNet(num_classes=5).state_dict(), path)
    loaded = load_model(path, arch="builders:ColourNet", arch_kwargs=parse_arch_kwargs('{"num_classes": 5}'))
    assert loaded.module.fc.out_features == 5


def test_state_dict_that_does_not_fit_the_arch_is_a_clear_error(tmp_path: Path) -> None:
    """Mismatched weights name the missing keys instead of a torch traceback."""
    path = tmp_path / "w.pt"
    torch.save({"other.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ModelLoadError, match=r"does not fit --arch.*missing"):
        load_model(path, arch="builders:ColourNet")


def test_state_dict_without_arch_asks_for_it(tmp_path: Path) -> None:
    """A bare state_dict explains that --arch is needed."""
    path = tmp_path / "w.pt"
    torch.save(ColourNet().state_dict(), path)
    with pytest.raises(ModelLoadError, match="pass --arch"):
        load_model(path)


def test_pickled_module_is_refused_without_trust(tmp_path: Path) -> None:
    """A whole pickled module is not unpickled unless the user says they trust it (it runs code)."""
    path = tmp_path / "whole.pt"
    torch.save(DropoutNet().train(), path)
    with pytest.raises(ModelLoadError, match=r"runs code.*--trust-pickle"):
        load_model(path)


def test_pickled_module_with_trust_loads_in_eval_mode(tmp_path: Path, x: torch.Tensor) -> None:
    """With --trust-pickle a module saved in train mode comes back in eval mode (dropout off)."""
    path = tmp_path / "whole.pt"
    torch.save(DropoutNet().train(), path)
    loaded = load_model(path, trust_pickle=True)
    assert loaded.format == "pickle" and not loaded.module.training
    _same_logits(loaded.module, x)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_bad_arch_kwargs_are_one_line_errors(text: str, message: str) -> None:
    """--arch-kwargs must be a JSON object."""
    with pytest.raises(ModelLoadError, match=message):
        parse_arch_kwargs(text)


@pytest.mark.parametrize(
    ("arch", "message"),
    [("nocolon", "expected torchvision:NAME"), ("builders:Nope", "has no 'Nope'"), ("torchvision:nonet", "nonet")],
)
def test_bad_arch_specs_are_one_line_errors(tmp_path: Path, arch: str, message: str) -> None:
    """Unknown architectures are reported with the spec the user gave."""
    path = tmp_path / "w.pt"
    torch.save(ColourNet().state_dict(), path)
    with pytest.raises(ModelLoadError, match=message):
        load_model(path, arch=arch)


def test_missing_model_file_is_an_error(tmp_path: Path) -> None:
    """A path that does not exist is reported as such."""
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nope.pt")
