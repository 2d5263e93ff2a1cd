"""``--cache DIR``: a rebuild with other report options reuses the pass's arrays; changed inputs do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import confusion_report.stages.run_pass as run_pass_module
from builders import COLOURS, ColourNet, colour_image
from confusion_report import build
from confusion_report.cache import PassCache, module_digest
from confusion_report.engine import PassArrays

BUILDERS = Path(__file__).with_name("builders.py")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """ColourNet saved as a state_dict (loaded with --arch tests/builders.py:ColourNet)."""
    path = tmp_path / "colour.pt"
    torch.save(ColourNet().state_dict(), path)
    return path


@pytest.fixture
def pass_calls(monkeypatch) -> list[int]:
    """Counts the passes that build() runs (the real pass still runs)."""
    calls: list[int] = []
    real = run_pass_module.run_pass

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_pass_module, "run_pass", spy)
    return calls


def _build(model: Path, data: Path, out: Path, **options):
    common = dict(arch=f"{BUILDERS}:ColourNet", preset="none", workers=0, progress=False, out=out)
    return build(model, data, **{**common, **options})


def _numbers(result) -> dict:
    d = result.to_dict(include_media=False)
    return {k: d[k] for k in ("metrics", "confusion", "pairs", "clusters", "galleries")}


def test_rebuild_with_other_report_options_skips_the_pass(
    model_file: Path, colour_folder: Path, tmp_path: Path, pass_calls: list[int]
) -> None:
    """--classes/--top-pairs/--title change: no second pass, and the numbers equal a fresh uncached run."""
    cache = tmp_path / "cache"
    first = _build(model_file, colour_folder, tmp_path / "a.html", cache_dir=cache)
    assert first.run.pass_cache == "stored" and len(pass_calls) == 1
    options = dict(focus_classes=("blue",), top_pairs=1, title="Blue only")
    fresh = _build(model_file, colour_folder, tmp_path / "b.html", **options)
    assert len(pass_calls) == 2
    again = _build(model_file, colour_folder, tmp_path / "c.html", cache_dir=cache, **options)
    assert len(pass_calls) == 2, "the cached arrays should have replaced the pass"
    assert again.run.pass_cache == "reused" and again.title == "Blue only"
    assert _numbers(again) == _numbers(fresh)
    assert [(p.true, p.pred) for p in again.pairs] == [("blue", "red")]
    assert "arrays reused from the cache" in (tmp_path / "c.html").read_text(encoding="utf-8")


def test_a_changed_image_or_model_invalidates_the_cache(
    model_file: Path, colour_folder: Path, tmp_path: Path, pass_calls: list[int]
) -> None:
    """Rewriting one image (another colour) or the model file forces a new pass with the new numbers."""
    cache = tmp_path / "cache"
    first = _build(model_file, colour_folder, tmp_path / "a.html", cache_dir=cache)
    # One more red that looks green: red->green goes from 3 to 4.
    colour_image(COLOURS["green"], seed=999).save(colour_folder / "red" / "red_000.png")
    second = _build(model_file, colour_folder, tmp_path / "b.html", cache_dir=cache)
    assert len(pass_calls) == 2 and second.run.pass_cache == "stored"
    assert first.pairs[0].count == 3 and second.pairs[0].count == 4
    net = ColourNet(gain=5.0)
    torch.save(net.state_dict(), model_file)
    third = _build(model_file, colour_folder, tmp_path / "c.html", cache_dir=cache)
    assert len(pass_calls) == 3 and third.run.pass_cache == "stored"
    assert len(list(cache.glob("pass-*.npz"))) == 3


def test_live_module_key_follows_its_weights() -> None:
    """The digest of a live module changes with any weight, and not otherwise."""
    a, b = ColourNet(), ColourNet()
    assert module_digest(a) == module_digest(b)
    with torch.no_grad():
        b.fc.bias[0] += 1e-6
    assert module_digest(a) != module_digest(b)


def test_cache_round_trip_and_damaged_entry(tmp_path: Path) -> None:
    """Arrays, extras, skips and conversions come back equal; a damaged file is a miss."""
    arrays = PassArrays(
        indices=np.array([0, 2]),
        logits=np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32),
        sizes=np.array([[4, 4], [5, 6]], dtype=np.int32),
        extras={"embedding": np.ones((2, 3), dtype=np.float32)},
        conversions={"alpha": 1},
        skipped=((1, "cannot decode: truncated"),),
        seconds=1.5,
    )
    cache = PassCache(tmp_path)
    path = cache.save("k1", arrays)
    back = cache.load("k1")
    assert back is not None and back.skipped == arrays.skipped and back.conversions == arrays.conversions
    assert np.array_equal(back.logits, arrays.logits) and np.array_equal(back.extras["embedding"], np.ones((2, 3)))
    assert cache.load("other") is None
    path.write_bytes(b"not a zip")
    assert cache.load("k1") is None
