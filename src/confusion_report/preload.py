"""Import the analysis libraries in a background thread while the pass runs.

In a fresh process scipy, scikit-learn, Altair and matplotlib take about 2 s to import on this kind of
machine (measured: scikit-learn's decomposition alone 1.2 s), and compiling the templates 0.5 s, all of it
after the pass and on the report's critical path. The pass leaves CPU time to spare (workers wait on
prefetch; on CUDA the cores are idle), so the imports are started as soon as the pass's first batch has
arrived: after the data loader has forked its workers, so that no worker inherits an import lock held by
this thread.
"""

from __future__ import annotations

import importlib
import threading

# What the analyse, media and write stages import on the default path.
MODULES = (
    "scipy.stats",
    "scipy.optimize",
    "scipy.sparse",
    "scipy.cluster.hierarchy",
    "sklearn.decomposition",
    "sklearn.neighbors",
    "matplotlib",
    "altair",
)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_all(modules: tuple[str, ...], warm: bool) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional library is the analysis's to report, not the preloader's
            continue
    if warm:
        try:
            from .render.html import warm_render

            warm_render()  # templates compiled and the Vega bundle read before the write stage needs them
        except Exception:  # the write stage will meet (and report) the same problem itself
            pass


def wait_for_preload() -> None:
    """Block until a running preload has finished: called before forking data-loader workers, since a child
    forked while this thread holds a module's import lock would hang importing that module."""
    thread = _thread
    if thread is not None and thread.is_alive():
        thread.join()


def start_preload(modules: tuple[str, ...] = MODULES, *, warm: bool = True) -> threading.Thread:
    """Start (once per process) a daemon thread importing ``modules`` and, with ``warm``, compiling the
    report's templates and loading the Vega bundle; return it."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, args=(modules, warm), name="preload-imports", daemon=True)
            _thread.start()
        return _thread
