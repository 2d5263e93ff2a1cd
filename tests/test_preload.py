"""The analysis libraries import in the background during the pass, never while loader workers fork."""

from __future__ import annotations

import subprocess
import sys


def test_preload_imports_the_analysis_libraries_in_one_background_thread() -> None:
    """A fresh process: after the thread ends scikit-learn is imported; a second start returns the same thread."""
    code = (
        "import sys\n"
        "from confusion_report.preload import start_preload, wait_for_preload\n"
        "assert 'sklearn.decomposition' not in sys.modules\n"
        "t = start_preload()\n"
        "assert start_preload() is t\n"
        "wait_for_preload()\n"
        "assert not t.is_alive() and 'sklearn.decomposition' in sys.modules and 'scipy.stats' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_missing_library_does_not_stop_the_preload() -> None:
    """An optional library that is not installed is skipped; the ones after it still import."""
    code = (
        "import sys\n"
        "from confusion_report.preload import start_preload, wait_for_preload\n"
        "start_preload(('no_such_module_xyz', 'json'), warm=False)\n"
        "wait_for_preload()\n"
        "assert 'json' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
