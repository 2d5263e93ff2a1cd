"""Shared fixtures: a tiny colour-deciding model and image folders made in the test's tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builders import ColourNet, make_colour_folder

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (modules opt in with ``pytestmark``): on a busy 2-core machine two
    threads are many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def colour_net() -> ColourNet:
    """The 3-class model whose errors are known by construction."""
    return ColourNet().eval()


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """red/green/blue with 3 reds that look green and 2 blues that look red."""
    return make_colour_folder(tmp_path / "data", confusions={("red", "green"): 3, ("blue", "red"): 2})


@pytest.fixture
def shared_data() -> Path:
    """../shared/data when present (local development); the test is skipped elsewhere."""
    root = Path(os.environ.get("CONFUSION_REPORT_SHARED_DATA", SHARED_DATA))
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root}")
    return root


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (skips or fails as tests/browser.py explains)."""
    from browser import CHROMIUM_ARGS, require_browser

    binary = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
