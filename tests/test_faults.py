"""Faults (issue 17): each gives one clear line and an exit code, early, and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import confusion_report
import confusion_report.stages.analyse as analyse_stage
import confusion_report.stages.load as load_stage
import confusion_report.stages.run_pass as run_pass_stage
from builders import ColourNet, colour_image
from confusion_report import build
from confusion_report.cache import PassCache, write_arrays
from confusion_report.cli import main
from confusion_report.errors import ModelRunError
from confusion_report.pass_arrays import PassArrays
from confusion_report.pass_faults import EARLY_NON_FINITE, HalvingRunner, check_mostly_finite
from fault_models import OutOfMemoryNet, RaisingNet

FAULT_MODELS = Path(__file__).with_name("fault_models.py")
BUILDERS = Path(__file__).with_name("builders.py")
FAST = ("--preset", "none", "--workers", "0", "--projection", "pca", "--explain", "none")


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """ColourNet's state_dict; every model in fault_models.py loads it."""
    path = tmp_path / "colour.pt"
    torch.save(ColourNet().state_dict(), path)
    return path


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _build(weights: Path, data: Path, out: Path, *options: str) -> tuple[int, str]:
    return _cli("build", "--model", str(weights), "--data", str(data), "--out", str(out), *FAST, *options)


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert "Traceback" not in output and len(lines) == 1, output
    assert lines[0].startswith("error: ")
    return lines[0]


def _numbers(result) -> dict:
    d = result.to_dict(include_media=False)
    return {k: d[k] for k in ("metrics", "confusion", "pairs", "clusters", "galleries")}


# --- outputs checked before the pass ---


@pytest.fixture
def no_work(monkeypatch) -> None:
    """Fail the test if the build gets as far as reading the data or running the pass."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the build started working before it checked its outputs")

    monkeypatch.setattr(load_stage, "discover", forbidden)
    monkeypatch.setattr(run_pass_stage, "run_pass", forbidden)


@pytest.mark.parametrize(
    ("option", "target"),
    [("--out", "afile/r.html"), ("--json", "afile/sub/r.json"), ("--predictions", "afile/p.csv")],
)
def test_an_output_under_a_file_fails_before_any_work(
    tmp_path: Path, weights: Path, colour_folder: Path, no_work: None, option: str, target: str
) -> None:
    """An output whose folder is a file: exit 2 and one line, before the data is even listed."""
    (tmp_path / "afile").write_text("a file, not a folder")
    args = [option, str(tmp_path / target)] if option != "--out" else []
    out = tmp_path / target if option == "--out" else tmp_path / "r.html"
    code, output = _build(weights, colour_folder, out, "--quiet", *args)
    assert code == 2
    assert "is a file, not a folder" in _one_error_line(output)
    assert not out.exists()


def test_an_unwritable_cache_or_twice_the_same_file_fails_before_any_work(
    tmp_path: Path, weights: Path, colour_folder: Path, no_work: None
) -> None:
    """--cache under a file, and --json naming the report itself, are one-line errors before the pass."""
    (tmp_path / "afile").write_text("x")
    code, output = _build(weights, colour_folder, tmp_path / "r.html", "--cache", str(tmp_path / "afile" / "c"))
    assert code == 2 and "--cache" in _one_error_line(output)
    code, output = _build(weights, colour_folder, tmp_path / "r.html", "--json", str(tmp_path / "r.html"))
    assert code == 2 and "--out and --json both name" in _one_error_line(output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "colour.pt", "data"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a POSIX user that permissions apply to")
def test_a_read_only_folder_fails_before_any_work(
    tmp_path: Path, weights: Path, colour_folder: Path, no_work: None
) -> None:
    """--out in a folder without write permission: exit 2, one line that names the folder."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = _build(weights, colour_folder, locked / "r.html")
    finally:
        locked.chmod(0o700)
    assert code == 2 and f"cannot write in {locked}" in _one_error_line(output)


# --- non-finite outputs ---


def test_a_model_returning_nan_stops_with_one_line_and_writes_nothing(
    tmp_path: Path, weights: Path, colour_folder: Path
) -> None:
    """All logits NaN: exit 2, a line that says the model looks broken, no report, JSON or CSV."""
    outputs = tmp_path / "outputs"
    code, output = _build(
        weights,
        colour_folder,
        outputs / "r.html",
        "--arch",
        f"{FAULT_MODELS}:NaNNet",
        "--json",
        str(outputs / "r.json"),
        "--predictions",
        str(outputs / "p.csv"),
        "--quiet",
    )
    assert code == 2
    line = _one_error_line(output)
    assert "NaN or infinite outputs for 41 of 41 images" in line and "looks broken" in line
    assert not outputs.exists()


def test_a_few_nan_images_are_listed_counted_and_the_report_is_written(
    tmp_path: Path, weights: Path, colour_folder: Path
) -> None:
    """Two black images give NaN: they are skipped with the reason, counted in the JSON and the Data section."""
    for i in range(2):
        colour_image((0.0, 0.0, 0.0), seed=100 + i).save(colour_folder / "red" / f"black_{i}.png")
    out, js, preds = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "p.csv"
    code, output = _build(
        weights,
        colour_folder,
        out,
        "--arch",
        f"{FAULT_MODELS}:NaNNet",
        "--arch-kwargs",
        '{"everywhere": false}',
        "--json",
        str(js),
        "--predictions",
        str(preds),
        "--quiet",
    )
    assert code == 0, output
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["dataset"]["non_finite"] == 2 and data["dataset"]["n_images"] == 41
    reasons = {s["path"]: s["reason"] for s in data["dataset"]["skipped"]}
    assert set(reasons) == {"red/black_0.png", "red/black_1.png"}
    assert all(r.startswith("non-finite model output") for r in reasons.values())
    assert any("NaN or infinite" in w for w in data["warnings"])
    assert "2 image(s) gave NaN or infinite model outputs" in out.read_text(encoding="utf-8")
    assert "red/black_0.png" in preds.read_text(encoding="utf-8")


def test_most_outputs_non_finite_is_a_broken_model_and_a_few_are_not() -> None:
    """The build stops at a majority of non-finite outputs, or when the first many are all non-finite."""
    check_mostly_finite(20, 41, first=None, final=True)
    with pytest.raises(ModelRunError, match="21 of 41 images"):
        check_mostly_finite(21, 41, first=Path("a.png"), final=True)
    check_mostly_finite(EARLY_NON_FINITE - 1, EARLY_NON_FINITE - 1, first=None, final=False)
    check_mostly_finite(EARLY_NON_FINITE - 1, EARLY_NON_FINITE, first=None, final=False)
    with pytest.raises(ModelRunError, match=f"all of the first {EARLY_NON_FINITE} images"):
        check_mostly_finite(EARLY_NON_FINITE, EARLY_NON_FINITE, first=None, final=False)


# --- a model that raises, or runs out of memory ---


def test_a_model_that_raises_names_the_batch_its_files_and_the_message(
    tmp_path: Path, weights: Path, colour_folder: Path
) -> None:
    """The fifth batch raises: exit 2, one line with the batch number, its first file and the model's words."""
    out = tmp_path / "r.html"
    args = ("--arch", f"{FAULT_MODELS}:RaisingNet", "--batch-size", "4", "--quiet")
    code, output = _build(weights, colour_folder, out, *args)
    assert code == 2
    line = _one_error_line(output)
    assert "the model failed on batch 5 (4 images: " in line and "green_002.png" in line
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in line
    assert not out.exists()
    code, output = _build(weights, colour_folder, out, *args, "--verbose")
    assert code == 2 and "Traceback" in output and output.strip().splitlines()[-1] == line


def test_out_of_memory_halves_the_batch_and_says_so(colour_net: ColourNet, colour_folder: Path, tmp_path: Path) -> None:
    """A model that fits 3 images: batch 8 halves to 4, then 2; same numbers as a normal build, a note in the report."""
    options = dict(preset="none", workers=0, progress=False, projection="pca", explain=(), batch_size=8)
    plain = build(colour_net, colour_folder, out=tmp_path / "a.html", **options)
    # 3 fit, so the activation views after the pass (three images per pair) still run.
    tight = build(OutOfMemoryNet(fits=3).eval(), colour_folder, out=tmp_path / "b.html", **options)
    assert _numbers(tight) == _numbers(plain)
    assert any("ran out of memory at batch size 8" in w and "with 2 images" in w for w in tight.warnings)
    assert "ran out of memory at batch size 8" in (tmp_path / "b.html").read_text(encoding="utf-8")


def test_out_of_memory_after_the_pass_is_one_line(
    tmp_path: Path, weights: Path, colour_folder: Path, monkeypatch
) -> None:
    """Out of memory in a stage after the pass (the explanations): exit 2 and one line that says what to change."""

    def explain_out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 12.00 GiB\nmore details")

    monkeypatch.setattr(analyse_stage, "analyse_why", explain_out_of_memory)
    code, output = _build(weights, colour_folder, tmp_path / "r.html", "--arch", f"{BUILDERS}:ColourNet", "--quiet")
    assert code == 2
    line = _one_error_line(output)
    assert "ran out of memory (CUDA out of memory. Tried to allocate 12.00 GiB)" in line and "--batch-size" in line
    assert not (tmp_path / "r.html").exists()


def test_out_of_memory_with_one_image_gives_up_in_one_line() -> None:
    """When a single image does not fit, the pass stops with a line naming the batch, not a traceback."""
    said: list[str] = []
    runner = HalvingRunner(4, device=torch.device("cpu"), say=said.append)

    def step(lo: int, hi: int) -> np.ndarray:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")

    with pytest.raises(ModelRunError, match=r"out of memory on batch 3 even with one image .*a\.png"):
        runner.run(step, 4, batch_no=3, files=[Path("a.png")] * 4)
    assert len(said) == 2 and "retrying with 2" in said[0] and "retrying with 1" in said[1]


# --- damaged cache entries ---


def _arrays(rows: int = 2) -> PassArrays:
    return PassArrays(
        indices=np.arange(rows),
        logits=np.ones((rows, 3), dtype=np.float32),
        sizes=np.full((rows, 2), 16, dtype=np.int32),
        extras={"embedding": np.ones((rows, 3), dtype=np.float32)},
        conversions={},
        skipped=(),
        seconds=1.0,
    )


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _not_a_zip(path: Path) -> None:
    path.write_bytes(b"not a zip at all")


def _wrong_arrays(path: Path) -> None:
    good = _arrays()
    write_arrays(path, PassArrays(**{**good.__dict__, "logits": np.ones((5, 3), dtype=np.float32)}), key="k1")


@pytest.mark.parametrize("damage", [_truncate, _not_a_zip, _wrong_arrays])
def test_a_damaged_cache_entry_is_a_miss_with_a_warning(tmp_path: Path, damage) -> None:
    """Truncated, not a zip, or arrays that disagree: load gives None and says the entry is damaged."""
    said: list[str] = []
    cache = PassCache(tmp_path, log=said.append)
    path = cache.save("k1", _arrays())
    assert cache.load("k1") is not None
    damage(path)
    assert cache.load("k1") is None
    assert len(said) == 2 and "damaged" in said[1] and str(path) in said[1]


def test_a_truncated_cache_entry_is_rebuilt_by_the_next_build(
    tmp_path: Path, weights: Path, colour_folder: Path
) -> None:
    """A half-copied entry in --cache: the build warns, runs the pass again and stores a good entry."""
    cache = tmp_path / "cache"
    args = ("--arch", f"{FAULT_MODELS}:NaNNet", "--arch-kwargs", '{"everywhere": false}', "--cache", str(cache))
    code, _ = _build(weights, colour_folder, tmp_path / "a.html", *args, "--quiet")
    (entry,) = cache.glob("pass-*.npz")
    _truncate(entry)
    code, output = _build(weights, colour_folder, tmp_path / "b.html", *args)
    assert code == 0 and "Traceback" not in output
    assert f"cache entry {entry} is damaged" in output and "the pass runs again" in output
    assert PassCache(cache).load(entry.stem.removeprefix("pass-")) is not None


# --- a truncated model file ---


def test_a_truncated_pt2_is_one_line_and_torchs_own_log_only_with_verbose(tmp_path: Path, colour_folder: Path) -> None:
    """torch logs a traceback before it raises on a half .pt2: the user sees one line unless --verbose."""
    program = torch.export.export(ColourNet().eval(), (torch.zeros(2, 3, 16, 16),))
    whole = tmp_path / "whole.pt2"
    torch.export.save(program, str(whole))
    half = tmp_path / "half.pt2"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    code, output = _build(half, colour_folder, tmp_path / "r.html", "--quiet")
    assert code == 2
    assert "cannot load torch.export program" in _one_error_line(output) and "is the file complete?" in output
    code, output = _build(half, colour_folder, tmp_path / "r.html", "--quiet", "--verbose")
    assert code == 2 and "Traceback" in output and output.strip().splitlines()[-1].startswith("error: cannot load")


def test_a_truncated_state_dict_says_damaged_not_pickle(tmp_path: Path, weights: Path, colour_folder: Path) -> None:
    """Half a torch.save file is called truncated, not refused as an unsafe pickle."""
    _truncate(weights)
    code, output = _build(weights, colour_folder, tmp_path / "r.html", "--arch", f"{BUILDERS}:ColourNet")
    assert code == 2
    line = _one_error_line(output)
    assert "is the file complete?" in line and "--trust-pickle" not in line


# --- checkpoints: a crashed run resumes ---


def test_a_crashed_run_resumes_from_its_checkpoints(colour_folder: Path, tmp_path: Path, capfd) -> None:
    """Batch 5 of 11 raises under --cache; the rerun runs only the other 25 images and equals a fresh build."""
    options = dict(preset="none", workers=0, projection="pca", explain=(), batch_size=4, checkpoint_every=8)
    cache = tmp_path / "cache"
    net = RaisingNet(fail_on_batch=5).eval()
    with pytest.raises(ModelRunError, match="batch 5"):
        build(net, colour_folder, out=tmp_path / "a.html", cache_dir=cache, progress=False, **options)
    assert len(list(cache.glob("partial-*/part-*.npz"))) == 2 and not (tmp_path / "a.html").exists()
    net.fail_on_batch = None
    capfd.readouterr()
    resumed = build(net, colour_folder, out=tmp_path / "a.html", cache_dir=cache, **options)
    assert "resuming from a checkpoint: 16 of 41 images done; running the other 25" in capfd.readouterr().err
    assert resumed.run.pass_cache == "resumed"
    assert any("resumed from a checkpoint: 16 images" in w for w in resumed.warnings)
    assert "resumed from a checkpoint" in (tmp_path / "a.html").read_text(encoding="utf-8")
    fresh = build(ColourNet().eval(), colour_folder, out=tmp_path / "b.html", progress=False, **options)
    assert _numbers(resumed) == _numbers(fresh)
    assert not list(cache.glob("partial-*")) and len(list(cache.glob("pass-*.npz"))) == 1


def test_a_damaged_checkpoint_part_is_run_again(colour_folder: Path, tmp_path: Path) -> None:
    """One of two parts truncated (a kill during a copy): its images run again, the rest is resumed."""
    options = dict(preset="none", workers=0, projection="pca", explain=(), batch_size=4, checkpoint_every=8)
    cache = tmp_path / "cache"
    net = RaisingNet(fail_on_batch=5).eval()
    with pytest.raises(ModelRunError):
        build(net, colour_folder, out=tmp_path / "a.html", cache_dir=cache, progress=False, **options)
    first, _second = sorted(cache.glob("partial-*/part-*.npz"))
    _truncate(first)
    net.fail_on_batch = None
    said: list[str] = []
    real = PassCache.__init__

    def listening(self, folder, *, log=None):
        real(self, folder, log=said.append)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PassCache, "__init__", listening)
        resumed = build(net, colour_folder, out=tmp_path / "a.html", cache_dir=cache, progress=False, **options)
    assert any(f"checkpoint {first} is damaged" in s for s in said)
    assert any("8 images came from an earlier" in w for w in resumed.warnings)


# --- killed and interrupted runs (a real process, a real signal) ---

SLOW_NET = '''
import time

import torch
from torch import nn


class SlowNet(nn.Module):
    """Channel means -> 3 logits, slowly: a stand-in for a big model on a slow device."""

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.delay = delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 2:  # pass batches only; the probe runs one and two images
            time.sleep(self.delay)
        return self.fc(x.mean(dim=(2, 3)))
'''


@pytest.fixture
def slow_model(tmp_path: Path) -> tuple[Path, Path]:
    """(architecture file, state_dict) of SlowNet, written by the test."""
    source = tmp_path / "slow_net.py"
    source.write_text(SLOW_NET, encoding="utf-8")
    namespace: dict = {}
    exec(compile(SLOW_NET, str(source), "exec"), namespace)
    weights = tmp_path / "slow.pt"
    torch.save(namespace["SlowNet"]().state_dict(), weights)
    return source, weights


def _start(slow_model: tuple[Path, Path], data: Path, out: Path, *options: str) -> subprocess.Popen:
    source, weights = slow_model
    src = str(Path(confusion_report.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    args = ["build", "--model", str(weights), "--arch", f"{source}:SlowNet", "--data", str(data), "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "confusion_report", *args, *FAST, "--batch-size", "3", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_pass(proc: subprocess.Popen) -> None:
    for line in proc.stderr:
        if line.startswith("pass: "):
            return
    raise AssertionError(f"the build ended before its pass: {proc.communicate()}")


def test_ctrl_c_during_the_pass_exits_130_and_leaves_nothing(
    tmp_path: Path, slow_model: tuple[Path, Path], colour_folder: Path
) -> None:
    """SIGINT mid-pass: exit 130, "interrupted", no traceback, and without --cache no file left anywhere."""
    before = sorted(p for p in tmp_path.rglob("*") if "__pycache__" not in p.parts)
    proc = _start(slow_model, colour_folder, tmp_path / "out" / "r.html", "--json", str(tmp_path / "r.json"))
    try:
        _wait_for_pass(proc)
        time.sleep(0.5)  # inside the pass: 14 batches of 0.2 s
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    after = sorted(p for p in tmp_path.rglob("*") if "__pycache__" not in p.parts)
    assert after == before


def test_a_killed_run_with_cache_resumes_where_its_checkpoint_stopped(
    tmp_path: Path, slow_model: tuple[Path, Path], colour_folder: Path
) -> None:
    """SIGKILL after the first checkpoint: no report; the rerun resumes and says so in the log and the JSON."""
    cache, out, js = tmp_path / "cache", tmp_path / "r.html", tmp_path / "r.json"
    options = ("--cache", str(cache), "--checkpoint-every", "6", "--json", str(js))
    proc = _start(slow_model, colour_folder, out, *options)
    try:
        deadline = time.monotonic() + 120
        while not list(cache.glob("partial-*/part-*.npz")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no handler runs, only what the checkpoint already holds survives
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert not out.exists() and not js.exists()
    assert not list(cache.rglob("*.tmp")), "a kill must leave whole checkpoint parts only"
    rerun = _start(slow_model, colour_folder, out, *options)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "resuming from a checkpoint" in err and "Traceback" not in err
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["run"]["pass_cache"] == "resumed" and data["dataset"]["n_images"] == 41
    assert not list(cache.glob("partial-*"))
