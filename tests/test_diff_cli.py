"""`confusion-report diff` end to end: results files and reports in, page and Markdown out, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import ColourNet, make_colour_folder
from confusion_report.cli import main
from confusion_report.diff.markdown import MARKER
from diff_builders import FAST_CLI, save_state, worse_net


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """base.{json,html} from the colour model, new.{json,html} from the one worse on red."""
    root = tmp_path_factory.mktemp("diffcli")
    data = make_colour_folder(root / "data", confusions={("red", "green"): 3, ("blue", "red"): 2})
    for name, net in (("base", ColourNet()), ("new", worse_net())):
        model = save_state(net, root / f"{name}.pt")
        args = ["--model", model, "--arch", "builders:ColourNet", "--data", data, *FAST_CLI]
        result = _run("build", *args, "--json", root / f"{name}.json", "--out", root / f"{name}.html")
        assert result.exit_code == 0, result.output
    return root


def test_a_failed_gate_exits_1_and_is_named_on_stderr_and_in_the_markdown(runs: Path) -> None:
    """NEW worse on red: exit 1, stderr names the recall gate and red, the Markdown says so first."""
    out, md = runs / "diff.html", runs / "summary.md"
    result = _run(
        "diff", runs / "base.json", runs / "new.json", "--out", out, "--markdown", md,
        "--max-class-recall-drop", "5", "--max-accuracy-drop", "50",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    failed = [line for line in result.stderr.splitlines() if line.startswith("gate failed:")]
    assert len(failed) == 1 and "--max-class-recall-drop" in failed[0] and "red recall" in failed[0]
    text = md.read_text(encoding="utf-8")
    assert text.startswith(MARKER + "\n") and "❌ 1 of 2 gate(s) failed" in text
    assert out.is_file() and "wrote" in result.stdout


def test_identical_runs_exit_0_and_reports_read_like_results_files(runs: Path) -> None:
    """A results file against its own report (embedded JSON): nothing flips, every gate passes."""
    result = _run(
        "diff", runs / "base.json", runs / "base.html", "--out", runs / "same.html", "--markdown", "-",
        "--max-accuracy-drop", "0", "--max-class-recall-drop", "0", "--fail-on-new-finding", "medium",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(MARKER) and "✅ all 3 gate(s) passed" in result.stdout
    assert "0 right → wrong, 0 wrong → right" in result.stdout


def test_reports_as_inputs_draw_flip_thumbnails_from_the_data_folder(runs: Path) -> None:
    """Reports embed no thumbnails: the diff makes them from the images under dataset.root and says so."""
    out = runs / "from-reports.html"
    result = _run("diff", runs / "base.html", runs / "new.html", "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "made from the image files under" in html and 'class="missing"' not in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("NOTES", "new.json"), "BASE"),
        (("base.json", "new.json", "--fail-on-new-finding", "low"), "'low' is not one of"),
        (("base.json", "new.json", "--max-accuracy-drop", "-1"), "-1"),
        (("base.json", "missing.json"), "does not exist"),
    ],
)
def test_usage_and_input_errors_exit_2(runs: Path, args: tuple[str, ...], message: str) -> None:
    """Unreadable inputs, bad options and missing files exit 2; an input error is one line starting `error:`."""
    (runs / "NOTES").write_text("<html><p>not a report</p></html>")
    result = _run("diff", *(runs / a if a.endswith((".json", "NOTES")) else a for a in args))
    assert result.exit_code == 2 and message in result.output
    if args[0] == "NOTES":
        assert result.output.startswith("error: BASE") and result.output.count("\n") == 1


def test_diff_never_imports_torch(runs: Path) -> None:
    """Comparing, gating and rendering two results files (thumbnails from the files included) never imports torch."""
    import subprocess
    import sys

    import confusion_report

    code = (
        "import sys\n"
        "from confusion_report.cli import main\n"
        f"sys.argv = ['confusion-report', 'diff', {str(runs / 'base.json')!r}, {str(runs / 'new.html')!r},"
        f" '--out', {str(runs / 'no-torch.html')!r}, '--markdown', '-', '--max-class-recall-drop', '5']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    status = done.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "sys.exit(status)\n"
    )
    src = str(Path(confusion_report.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src})
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(MARKER) and "gate failed: --max-class-recall-drop" in done.stderr
