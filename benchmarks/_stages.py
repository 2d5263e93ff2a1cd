"""Time each stage that ``confusion_report.api.build`` calls, without knowing the stages in advance.

Every function that ``api`` imports from another ``confusion_report`` module (discovery, loading,
the pass, each analysis, thumbnails, rendering, and whatever later stages get wired in) is wrapped
with a timer for the duration of a ``with stage_timer() as times:`` block.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import _common  # noqa: F401  (puts src/ on sys.path)

from confusion_report import api


@contextmanager
def stage_timer() -> Iterator[dict[str, float]]:
    """Yield a dict that fills with seconds per stage function while the block runs."""
    times: dict[str, float] = defaultdict(float)
    originals = {}
    for name, obj in vars(api).items():
        module = getattr(obj, "__module__", "") or ""
        if not (inspect.isfunction(obj) and module.startswith("confusion_report.") and module != api.__name__):
            continue
        originals[name] = obj

        def wrapper(*args, __f=obj, __name=name, **kwargs):
            start = time.perf_counter()
            try:
                return __f(*args, **kwargs)
            finally:
                times[__name] += time.perf_counter() - start

        setattr(api, name, functools.wraps(obj)(wrapper))
    try:
        yield times
    finally:
        for name, obj in originals.items():
            setattr(api, name, obj)


def print_stages(times: dict[str, float], *, total: float, skip: tuple[str, ...] = ()) -> None:
    """One line per stage, slowest first, and what no wrapped stage accounts for."""
    shown = {k: v for k, v in times.items() if k not in skip}
    for name, seconds in sorted(shown.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.005:
            print(f"  {name:<28} {seconds:7.2f} s")
    print(f"  {'(unaccounted)':<28} {total - sum(times.values()):7.2f} s")
