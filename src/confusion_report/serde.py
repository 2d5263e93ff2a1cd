"""Turn frozen result dataclasses into JSON-ready values and back.

One generic pair of functions, driven by the dataclasses' own type hints, so that every result type
round-trips without a hand-written ``to_dict``/``from_dict`` beside it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar, Union

import numpy as np

T = TypeVar("T")

# Six significant digits keep the JSON small and stable across platforms without losing anything a
# reader of the report could see.
_FLOAT_DIGITS = 6


def round_json_float(value: float) -> float:
    """A float as the results JSON stores it (six significant digits)."""
    return float(f"{value:.{_FLOAT_DIGITS}g}")


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, tuples, dicts and floats into plain JSON values (NaN becomes null).

    A field's ``metadata`` may rename it in JSON (``{"json": "class"}``) or leave it out
    (``{"skip_json": True}``). A dataclass with a ``json_encode()`` method chooses its own shape.
    """
    # Plain values first: they are most of the calls (per-image lists of 10,000 images).
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is float:
        return round_json_float(value) if math.isfinite(value) else None
    if hasattr(value, "json_encode") and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(value.json_encode())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.metadata.get("json", f.name): to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.metadata.get("skip_json")
        }
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return round_json_float(value) if math.isfinite(value) else None
    # numpy scalars and similar: anything with item() becomes its Python value.
    if hasattr(value, "item"):
        return to_jsonable(value.item())
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def from_jsonable(cls: Any, data: Any) -> Any:
    """Rebuild an instance of ``cls`` (a dataclass or a typing hint) from :func:`to_jsonable` output."""
    origin = typing.get_origin(cls)
    args = typing.get_args(cls)
    if cls is Any:
        return data
    if cls is np.ndarray:
        return np.asarray(data)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return from_jsonable(non_none[0], data)
    if dataclasses.is_dataclass(cls) and hasattr(cls, "json_decode"):
        return cls.json_decode(data)  # the counterpart of json_encode()
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            key = f.metadata.get("json", f.name)
            if key in data:
                kwargs[f.name] = from_jsonable(hints[f.name], data[key])
        return cls(**kwargs)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(args[0], v) for v in data)
        return tuple(from_jsonable(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        return [from_jsonable(args[0], v) for v in data]
    if origin is dict:
        return {k: from_jsonable(args[1], v) for k, v in data.items()}
    if cls is float:
        return math.nan if data is None else float(data)
    return data
