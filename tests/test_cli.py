"""The command line end to end on a tiny model file, and its one-line errors."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from builders import ColourNet, make_colour_folder
from confusion_report.cli import main

BUILDERS = Path(__file__).with_name("builders.py")


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "colour.pt"
    torch.save(ColourNet().state_dict(), path)
    return path


def _build(model: object, data: object, out: object, *options: str) -> tuple[int, str]:
    """`confusion-report build` with the options every test shares (tiny images, no workers, quiet)."""
    args = ["--model", str(model), "--data", str(data), "--preset", "none", "--workers", "0", "--out", str(out)]
    return _run("build", *args, "--quiet", *options)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _embedded_json(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])


def test_build_writes_report_json_and_predictions(tmp_path: Path, weights: Path, colour_folder: Path) -> None:
    """One command writes the HTML (with the embedded JSON), the results JSON and the per-image CSV."""
    out, js, preds = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "p.csv"
    (colour_folder / "green" / "readme.txt").write_text("not an image")
    (colour_folder / "blue" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, output = _build(
        str(weights),
        str(colour_folder),
        str(out),
        "--arch",
        f"{BUILDERS}:ColourNet",
        "--json",
        str(js),
        "--predictions",
        str(preds),
        "--title",
        "Colours",
    )
    assert code == 0, output
    assert "accuracy" in output and "2 skipped" in output
    html = out.read_text(encoding="utf-8")
    embedded = _embedded_json(html)
    written = json.loads(js.read_text(encoding="utf-8"))
    assert "media" not in embedded and written["media"]
    assert embedded["pairs"] == written["pairs"]
    assert embedded["command"].startswith("confusion-report build --model")
    assert {s["path"] for s in written["dataset"]["skipped"]} == {"green/readme.txt", "blue/broken.png"}
    assert "blue/broken.png" in html and "green/readme.txt" in html
    rows = list(csv.DictReader(preds.open(encoding="utf-8")))
    assert len(rows) == written["dataset"]["n_images"] + 2
    wrong = [r for r in rows if r["correct"] == "0"]
    assert {(r["label"], r["pred"]) for r in wrong} == {("red", "green"), ("blue", "red")}
    assert {r["path"]: r["skipped"] for r in rows if r["skipped"]}.keys() == {"green/readme.txt", "blue/broken.png"}


def test_class_count_mismatch_is_a_one_line_error(tmp_path: Path, colour_folder: Path) -> None:
    """A 5-output model on 3 class folders fails with a message that names --class-names."""
    path = tmp_path / "five.pt"
    torch.save(ColourNet(num_classes=5).state_dict(), path)
    code, output = _build(
        str(path),
        str(colour_folder),
        str(tmp_path / "r.html"),
        "--arch",
        "builders:ColourNet",
        "--arch-kwargs",
        '{"num_classes": 5}',
    )
    assert code == 2
    assert output.strip().count("\n") == 0
    assert "5 outputs but the data has 3 classes" in output and "--class-names" in output


def test_class_names_file_maps_outputs_to_folders(tmp_path: Path, colour_folder: Path) -> None:
    """With --class-names a 5-output model runs on 3 class folders; extra outputs are just never true."""
    path = tmp_path / "five.pt"
    torch.save(ColourNet(num_classes=5).state_dict(), path)
    names = tmp_path / "names.txt"
    names.write_text("blue\ngreen\nred\nextra1\nextra2\n")
    js = tmp_path / "r.json"
    code, output = _build(
        str(path),
        str(colour_folder),
        str(tmp_path / "r.html"),
        "--arch",
        "builders:ColourNet",
        "--arch-kwargs",
        '{"num_classes": 5}',
        "--class-names",
        str(names),
        "--json",
        str(js),
    )
    assert code == 0, output
    data = json.loads(js.read_text())
    assert data["model"]["num_outputs"] == 5
    assert data["confusion"]["classes"] == ["blue", "green", "red"]


def test_unsafe_pickle_is_refused_on_the_command_line(tmp_path: Path, colour_folder: Path) -> None:
    """A pickled module needs --trust-pickle; the error says that unpickling runs code."""
    path = tmp_path / "whole.pt"
    torch.save(ColourNet(), path)
    args = [str(path), str(colour_folder), str(tmp_path / "r.html")]
    code, output = _build(*args)
    assert code == 2 and "runs code" in output and "--trust-pickle" in output
    code, output = _build(*args, "--trust-pickle")
    assert code == 0, output


def test_mixed_image_sizes_without_resize_is_a_clear_error(tmp_path: Path, weights: Path) -> None:
    """With --preset none and no --resize, images of different sizes cannot be batched: say what to do."""
    data = make_colour_folder(tmp_path / "d", per_class=2)
    make_colour_folder(tmp_path / "d", per_class=1, size=20)  # adds red_000.png etc. again at 20 px
    from builders import colour_image

    colour_image((1, 0, 0), size=24).save(data / "red" / "big.png")
    code, output = _build(str(weights), str(data), str(tmp_path / "r.html"), "--arch", "builders:ColourNet")
    assert code == 2 and "different sizes" in output and "--resize" in output


def test_help_shows_examples() -> None:
    """`build --help` carries worked examples."""
    code, output = _run("build", "--help")
    assert code == 0 and "Examples:" in output and "--arch torchvision:resnet18" in output


def test_render_rebuilds_the_report_from_saved_results(tmp_path: Path, weights: Path, colour_folder: Path) -> None:
    """`render results.json` gives the same HTML as the build (no model needed)."""
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    code, _ = _build(str(weights), str(colour_folder), str(out), "--arch", "builders:ColourNet", "--json", str(js))
    assert code == 0
    again = tmp_path / "again.html"
    code, output = _run("render", str(js), "--out", str(again))
    assert code == 0, output
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_render_refuses_a_file_that_is_not_results(tmp_path: Path) -> None:
    """A JSON file of another kind gives a one-line error."""
    bogus = tmp_path / "x.json"
    bogus.write_text('{"schema_version": 99}')
    code, output = _run("render", str(bogus), "--out", str(tmp_path / "r.html"))
    assert code == 2 and "schema_version" in output


def test_python_dash_m_runs_the_cli() -> None:
    """`python -m confusion_report --version` works."""
    done = subprocess.run([sys.executable, "-m", "confusion_report", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "confusion-report" in done.stdout


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_model_builds_a_report_that_says_what_is_missing(tmp_path: Path, colour_folder: Path) -> None:
    """TorchScript runs end to end; the report warns that embeddings are unavailable (no hooks)."""
    path = tmp_path / "m.ts"
    torch.jit.save(torch.jit.trace(ColourNet().eval(), torch.zeros(2, 3, 16, 16)), str(path))
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    code, output = _build(str(path), str(colour_folder), str(out), "--json", str(js))
    assert code == 0, output
    data = json.loads(js.read_text())
    assert data["model"]["format"] == "torchscript" and data["model"]["embedding_layer"] is None
    assert any("TorchScript" in w for w in data["warnings"])
    assert data["galleries"][0]["typical_by"] == "highest confidence"
    assert "TorchScript modules take no hooks" in out.read_text(encoding="utf-8")


def test_exported_model_with_a_static_batch_runs_one_image_at_a_time(tmp_path: Path, colour_folder: Path) -> None:
    """A .pt2 exported without a dynamic batch dimension still works, with a visible warning."""
    program = torch.export.export(ColourNet().eval(), (torch.zeros(1, 3, 16, 16),))
    path = tmp_path / "static.pt2"
    torch.export.save(program, str(path))
    js = tmp_path / "r.json"
    code, output = _build(str(path), str(colour_folder), str(tmp_path / "r.html"), "--json", str(js))
    assert code == 0, output
    data = json.loads(js.read_text())
    assert data["run"]["batch_size"] == 1 and data["model"]["embedding_layer"] == "fc (input)"
    assert any("batch size 1" in w for w in data["warnings"])
    assert [(p["true"], p["pred"], p["count"]) for p in data["pairs"]] == [("red", "green", 3), ("blue", "red", 2)]
