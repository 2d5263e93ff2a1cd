"""Load a classifier from any supported file into an eval-mode module, and find its layers.

Supported: torch.export ``.pt2`` (first class: hookable through ``torch.export.unflatten``),
TorchScript (runs, but takes no hooks), a state_dict (``torch.save`` or ``.safetensors``) plus ``--arch``
(torchvision, timm, a factory or a class in a file), a Hugging Face image-classification folder, and a
whole pickled module only behind ``trust_pickle`` because unpickling runs code from the file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import sys
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelLoadError
from .library_logs import format_records, held_back
from .preprocess_sources import PresetSpec, hf_preset

_PICKLE_HINT = (
    "unpickling runs code stored in the file, so it is refused by default; if you trust its source pass "
    "--trust-pickle (or save a state_dict and pass --arch, or export with torch.export to a .pt2)"
)


@dataclass(frozen=True)
class LoadedModel:
    """An eval-mode module and what the report needs to know about where it came from."""

    module: nn.Module
    format: str
    path: str
    hookable: bool
    notes: tuple[str, ...] = ()
    # What the model brings along: output names (Hugging Face id2label) and its own preprocessing.
    class_names: tuple[str, ...] | None = None
    preprocessing: PresetSpec | None = None


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def sniff_format(path: Path) -> str:
    """Tell ``export``, ``torchscript`` or ``pickle`` (torch.save: state_dict or whole module) apart."""
    names = _zip_names(path)
    if path.suffix == ".pt2" or any(
        n.endswith("serialized_exported_program.json") or ("/models/" in n and n.endswith(".json")) for n in names
    ):
        return "export"
    if any("/code/" in n or n.startswith("code/") for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "pickle"


def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """Parse ``--arch-kwargs`` (a JSON object)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"--arch-kwargs is not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise ModelLoadError("--arch-kwargs must be a JSON object, e.g. '{\"num_classes\": 10}'")
    return value


def _infer_num_classes(state: Mapping[str, torch.Tensor]) -> int | None:
    # The classifier is the last 2-D weight in a state_dict's (insertion) order.
    last = None
    for key, value in state.items():
        if key.endswith("weight") and isinstance(value, torch.Tensor) and value.dim() == 2:
            last = value
    return None if last is None else int(last.shape[0])


def build_arch(spec: str, kwargs: Mapping[str, Any], state: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Instantiate ``torchvision:NAME``, ``timm:NAME``, ``package.module:factory`` or ``path/to/file.py:ClassName``."""
    if ":" not in spec:
        raise ModelLoadError(
            f"--arch {spec!r}: expected torchvision:NAME, package.module:factory or path/to/file.py:ClassName"
        )
    where, _, name = spec.rpartition(":")
    kwargs = dict(kwargs)
    if where == "torchvision":
        import torchvision

        if "num_classes" not in kwargs and state is not None:
            n = _infer_num_classes(state)
            if n is not None:
                kwargs["num_classes"] = n
        try:
            return torchvision.models.get_model(name, weights=None, **kwargs)
        except ValueError as exc:
            raise ModelLoadError(f"--arch {spec}: {exc}") from None
    if where == "timm":
        return _build_timm(spec, name, kwargs, state)
    if where.endswith(".py"):
        file = Path(where)
        if not file.is_file():
            raise ModelLoadError(f"--arch {spec}: file {file} not found")
        mod_name = f"_confusion_report_arch_{abs(hash(str(file.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, file)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError:
            # Let `package.module:factory` name a module in the current folder, as `python -m` would.
            sys.path.insert(0, str(Path.cwd()))
            try:
                module = importlib.import_module(where)
            except ModuleNotFoundError as exc:
                raise ModelLoadError(f"--arch {spec}: cannot import {where!r} ({exc})") from None
    factory = getattr(module, name, None)
    if factory is None:
        raise ModelLoadError(f"--arch {spec}: {where} has no {name!r}")
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        raise ModelLoadError(f"--arch {spec}: {exc} (pass arguments with --arch-kwargs)") from None
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"--arch {spec}: returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _build_timm(spec: str, name: str, kwargs: dict[str, Any], state: Mapping[str, torch.Tensor] | None) -> nn.Module:
    """A timm model with random weights (``pretrained=False``: nothing downloads); the state dict fills it."""
    try:
        import timm
    except ImportError:
        raise ModelLoadError(f'--arch {spec} needs timm: pip install "confusion-report[timm]"') from None
    if "num_classes" not in kwargs and state is not None:
        n = _infer_num_classes(state)
        if n is not None:
            kwargs["num_classes"] = n
    try:
        return timm.create_model(name, pretrained=False, **kwargs)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"--arch {spec}: {exc}") from None


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (no code runs: the format holds tensors only)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ModelLoadError(f"{path}: reading .safetensors needs the safetensors package") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelLoadError(f"cannot read {path} as safetensors: {exc}") from None


HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def load_hf_folder(path: Path) -> LoadedModel:
    """A Hugging Face image-classification folder (``config.json`` and weights) through transformers'
    ``AutoModelForImageClassification``, from local files only; names from ``id2label``, preprocessing
    from ``preprocessor_config.json``."""
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} is a folder without config.json: not a Hugging Face model folder")
    if not any((path / w).is_file() for w in HF_WEIGHTS):
        raise ModelLoadError(f"{path} holds no weights ({' or '.join(HF_WEIGHTS[:2])})")
    try:
        from transformers import AutoModelForImageClassification
    except ImportError:
        raise ModelLoadError(f'{path} is a Hugging Face folder: pip install "confusion-report[hf]"') from None
    try:
        # trust_remote_code stays off: a folder's own modelling code would run on load.
        model = AutoModelForImageClassification.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load Hugging Face model {path}: {_first_line(exc)}") from None
    id2label = getattr(model.config, "id2label", None) or {}
    names = tuple(str(id2label[k]) for k in sorted(id2label, key=int)) if id2label else None
    if names and all(n == f"LABEL_{k}" for k, n in enumerate(names)):
        names = None  # transformers' placeholders: the data's class folders name the outputs
    return LoadedModel(
        model.eval(), "huggingface", str(path), hookable=True, class_names=names, preprocessing=hf_preset(path)
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _clean_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """Return the tensors of a state_dict (also one nested under 'state_dict'/'model'), else None."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model", "net"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
        if obj and all(isinstance(k, str) for k in obj) and all(isinstance(v, torch.Tensor) for v in obj.values()):
            out = {}
            for k, v in obj.items():
                # DataParallel and torch.compile wrappers prefix every key.
                for prefix in ("module.", "_orig_mod."):
                    k = k.removeprefix(prefix)
                out[k] = v
            return out
    return None


def _load_state(model: nn.Module, state: Mapping[str, torch.Tensor], spec: str) -> None:
    result = model.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} keys (e.g. {', '.join(result.missing_keys[:3])})")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)} keys (e.g. {', '.join(result.unexpected_keys[:3])})")
    if problems:
        raise ModelLoadError(f"state_dict does not fit --arch {spec}: " + "; ".join(problems))


def load_model(
    path: Path | str,
    *,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    trust_pickle: bool = False,
) -> LoadedModel:
    """Load a model file into an eval-mode module on the CPU."""
    path = Path(path)
    if path.is_dir():
        return load_hf_folder(path)
    if path.suffix == ".safetensors" and path.is_file():
        return _load_state_file(path, read_safetensors(path), arch, arch_kwargs)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    kind = sniff_format(path)
    if kind == "export":
        return _load_export(path)
    if kind == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load is deprecated in torch 2.14; it still loads.
            module = torch.jit.load(str(path), map_location="cpu")
        module.eval()
        return LoadedModel(
            module,
            "torchscript",
            str(path),
            hookable=False,
            notes=(
                "TorchScript modules take no hooks: embeddings and layer views are unavailable; export the "
                "model with torch.export (.pt2) for the full report.",
            ),
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only raises UnpicklingError (or RuntimeError) for arbitrary objects.
        if _is_damaged_archive(exc):
            raise ModelLoadError(f"cannot read {path}: {_first_line(exc)}{_DAMAGED_HINT}") from None
        if not trust_pickle:
            raise ModelLoadError(f"{path} is not a plain state_dict but a pickled object; {_PICKLE_HINT}") from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelLoadError(f"cannot load {path}: {exc2}") from exc
    if isinstance(obj, nn.Module):
        if not trust_pickle:
            raise ModelLoadError(f"{path} holds a whole pickled module; {_PICKLE_HINT}")
        return LoadedModel(obj.eval(), "pickle", str(path), hookable=True)
    state = _clean_state_dict(obj)
    if state is None:
        raise ModelLoadError(f"{path} holds a {type(obj).__name__}, neither a state_dict nor a module")
    if arch is None:
        raise ModelLoadError(
            f"{path} is a state_dict: pass --arch (torchvision:NAME, package.module:factory or file.py:Class)"
        )
    model = build_arch(arch, arch_kwargs or {}, state)
    _load_state(model, state, arch)
    return LoadedModel(model.eval(), "state_dict", str(path), hookable=True, preprocessing=_arch_preset(arch))


def _load_state_file(
    path: Path, tensors: dict[str, torch.Tensor], arch: str | None, arch_kwargs: Mapping[str, Any] | None
) -> LoadedModel:
    """A state dict read from a ``.safetensors`` file into the ``--arch`` it belongs to."""
    state = _clean_state_dict(tensors)
    if not state:
        raise ModelLoadError(f"{path} holds no tensors")
    if arch is None:
        raise ModelLoadError(
            f"{path} is a state_dict: pass --arch (torchvision:NAME, timm:NAME, package.module:factory "
            "or file.py:Class)"
        )
    model = build_arch(arch, arch_kwargs or {}, state)
    _load_state(model, state, arch)
    return LoadedModel(model.eval(), "safetensors", str(path), hookable=True, preprocessing=_arch_preset(arch))


def _arch_preset(arch: str | None) -> PresetSpec | None:
    """timm names its preprocessing (``pretrained_cfg``): a ``timm:NAME`` arch brings it along."""
    if arch is None or not arch.startswith("timm:"):
        return None
    from .errors import ReportError
    from .preprocess_sources import timm_preset

    try:
        return timm_preset(arch.partition(":")[2])
    except ReportError:
        return None


def _load_export(path: Path) -> LoadedModel:
    # torch.export.load logs a traceback of its own before it raises on a damaged file; the error
    # below says it in one line, and keeps torch's log for --verbose.
    records: list = []
    try:
        with held_back() as records:
            program = torch.export.load(str(path))
    except Exception as exc:
        failure = ModelLoadError(f"cannot load torch.export program {path}: {_first_line(exc)}{_DAMAGED_HINT}")
        failure.details = format_records(records)
        raise failure from None
    notes: list[str] = []
    try:
        # Submodules of unflatten() run as modules, so forward hooks fire (they do not on .module()).
        module = torch.export.unflatten(program)
        hookable = True
    except Exception as exc:
        module = program.module()
        hookable = False
        notes.append(f"torch.export.unflatten failed ({exc}); layer hooks are unavailable")
    _to_eval(module)
    return LoadedModel(module, "export", str(path), hookable=hookable, notes=tuple(notes))


_DAMAGED_HINT = " (is the file complete? a partial copy or a full disk truncates it; copy or export it again)"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _is_damaged_archive(exc: BaseException) -> bool:
    """torch.load's failure on a truncated or corrupt file (not the refusal of a pickled object)."""
    text = str(exc)
    return (
        isinstance(exc, (EOFError, zipfile.BadZipFile))
        or "failed reading zip archive" in text
        or ("Ran out of input" in text)
    )


def _to_eval(module: nn.Module) -> None:
    """Eval mode; exported graphs bake in the mode they were traced in, and some refuse .eval()."""
    with contextlib.suppress(NotImplementedError, RuntimeError):
        module.eval()


def wrap_module(module: nn.Module) -> LoadedModel:
    """A live module handed to the Python API."""
    hookable = not isinstance(module, torch.jit.ScriptModule)
    module.eval()
    return LoadedModel(module, "module", type(module).__name__, hookable=hookable)


def is_linear_like(module: nn.Module) -> bool:
    """A Linear layer, or (in an unflattened export, where types are lost) a leaf holding a 2-D weight."""
    if isinstance(module, nn.Linear):
        return True
    if any(True for _ in module.children()):
        return False
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.dim() == 2


def find_final_linear(module: nn.Module) -> str | None:
    """The name of the last Linear-like submodule in definition order, whose input is the embedding."""
    last = None
    for name, sub in module.named_modules():
        if name and is_linear_like(sub):
            last = name
    return last


def get_submodule(module: nn.Module, name: str) -> nn.Module:
    """``module.get_submodule`` with a one-line error that lists a few valid names."""
    try:
        return module.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        hint = ", ".join(names[-8:])
        raise ModelLoadError(f"layer {name!r} not found in the model; last layers are: {hint}") from None
