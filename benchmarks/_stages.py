"""Time each stage that ``confusion_report.api.build`` calls, and each step inside a stage, without
knowing them in advance.

Every function that ``api`` imports from another ``confusion_report`` module (the stages: load,
run_pass, analyse, media, assemble, write) is wrapped with a timer for the duration of a
``with stage_timer() as times:`` block, and so is every function that a stage module imports (the
pass, each analysis, the explain pass, thumbnails, rendering...), under ``stage/step`` names.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import _common  # noqa: F401  (puts src/ on sys.path)

import confusion_report.stages as stages_package
from confusion_report import api


@contextmanager
def stage_timer() -> Iterator[dict[str, float]]:
    """Yield a dict that fills with seconds per stage function while the block runs."""
    times: dict[str, float] = defaultdict(float)
    originals: list[tuple[object, str, object]] = []
    owners = [(api, "")]
    for info in pkgutil.iter_modules(stages_package.__path__):
        owners.append((importlib.import_module(f"{stages_package.__name__}.{info.name}"), f"{info.name}/"))
    for owner, prefix in owners:
        for name, obj in vars(owner).items():
            module = getattr(obj, "__module__", "") or ""
            if not (inspect.isfunction(obj) and module.startswith("confusion_report.") and module != owner.__name__):
                continue
            if prefix and module.startswith(stages_package.__name__):
                continue  # a stage calling a sibling stage's helper: timed where it is defined
            originals.append((owner, name, obj))

            def wrapper(*args, __f=obj, __name=prefix + name, **kwargs):
                start = time.perf_counter()
                try:
                    return __f(*args, **kwargs)
                finally:
                    times[__name] += time.perf_counter() - start

            setattr(owner, name, functools.wraps(obj)(wrapper))
    try:
        yield times
    finally:
        for owner, name, obj in originals:
            setattr(owner, name, obj)


def print_stages(times: dict[str, float], *, total: float, skip: tuple[str, ...] = ()) -> None:
    """One line per stage, slowest first, its steps indented below it, and what no stage accounts for."""
    top = {k: v for k, v in times.items() if "/" not in k and k not in skip}
    for name, seconds in sorted(top.items(), key=lambda kv: -kv[1]):
        if seconds < 0.005:
            continue
        print(f"  {name:<34} {seconds:7.2f} s")
        steps = {k: v for k, v in times.items() if k.startswith(_module_of(name) + "/") and k not in skip}
        for step, sec in sorted(steps.items(), key=lambda kv: -kv[1]):
            if sec >= 0.005:
                print(f"    {step:<32} {sec:7.2f} s")
    print(f"  {'(unaccounted)':<34} {total - sum(v for k, v in times.items() if '/' not in k):7.2f} s")


def _module_of(stage_function: str) -> str:
    """The stage module whose steps belong under a stage function (``pass_stage`` -> ``run_pass``)."""
    fn = getattr(api, stage_function, None)
    module = getattr(getattr(fn, "__wrapped__", fn), "__module__", "") or ""
    return module.rpartition(".")[2]
