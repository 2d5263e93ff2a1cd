"""The example GitHub Actions workflow's shell steps, run locally: build base and PR with --cache, diff, gate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import confusion_report
from builders import ColourNet, make_colour_folder
from confusion_report.diff.markdown import MARKER
from diff_builders import save_state, worse_net

WORKFLOW = Path(__file__).resolve().parents[1] / "docs" / "github-actions-example.yml"
LOCAL_STEPS = ("build-base", "build-pr", "diff")


def step_scripts(text: str) -> dict[str, str]:
    """The ``run: |`` block of every step that has an ``id``, keyed by that id (no YAML library needed)."""
    scripts: dict[str, str] = {}
    step_id = None
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if re.match(r"\s*- (name|uses):", line):
            step_id = None
        found = re.match(r"\s*id:\s*(\S+)", line)
        if found:
            step_id = found[1]
        run = re.match(r"(\s*)run: \|\s*$", line)
        if run and step_id:
            indent = len(run[1])
            block = []
            for body in lines[k + 1 :]:
                if body.strip() and len(body) - len(body.lstrip()) <= indent:
                    break
                block.append(body[indent + 2 :])
            scripts[step_id] = "\n".join(block).strip() + "\n"
    return scripts


@pytest.fixture
def shim(tmp_path: Path) -> dict[str, str]:
    """Environment whose `confusion-report` is this interpreter running the package the tests import."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "confusion-report"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m confusion_report "$@"\n')
    exe.chmod(0o755)
    src = Path(confusion_report.__file__).resolve().parents[1]
    tests = Path(__file__).resolve().parent
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(src), str(tests), os.environ.get("PYTHONPATH", "")]),
    }


def test_workflow_steps_that_run_locally_read_only_environment_variables() -> None:
    """The build and diff steps exist and hold no ${{ }} expressions: they are plain, testable shell."""
    scripts = step_scripts(WORKFLOW.read_text(encoding="utf-8"))
    assert set(LOCAL_STEPS) <= set(scripts)
    for name in LOCAL_STEPS:
        assert "${{" not in scripts[name], name
    assert "--cache" in scripts["build-base"] and "--cache" in scripts["build-pr"]
    assert MARKER in WORKFLOW.read_text(encoding="utf-8")


@pytest.mark.slow  # three fresh processes that import torch: ~30 s on a busy 2-core machine
def test_workflow_commands_build_diff_and_fail_the_gate_locally(tmp_path: Path, shim: dict[str, str]) -> None:
    """Base and PR reports from tiny models, the diff with the workflow's gates: exit=1 recorded, red named."""
    work = tmp_path / "repo"
    work.mkdir()
    make_colour_folder(work / "data" / "val", confusions={("red", "green"): 3, ("blue", "red"): 2})
    save_state(ColourNet(), work / "base.pt")
    save_state(worse_net(), work / "pr.pt")
    output = tmp_path / "github_output"
    env = {
        **shim,
        "MODEL": "pr.pt",
        "BASE_MODEL": "base.pt",
        "DATA": "data/val",
        "BUILD_ARGS": "--arch builders:ColourNet --preset none --workers 0 --explain none --projection pca",
        "GATES": "--max-accuracy-drop 1 --max-class-recall-drop 5 --fail-on-new-finding high",
        "CACHE": ".cache/confusion-report",
        "REPORT_URL": "https://example.test/pr-7",
        "PR_NUMBER": "7",
        "PR_TITLE": 'Retrain "red" $(not run)',
        "GITHUB_OUTPUT": str(output),
    }
    scripts = step_scripts(WORKFLOW.read_text(encoding="utf-8"))
    for name in LOCAL_STEPS:
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", scripts[name]],
            cwd=work, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"{name}: {done.stderr}"
    assert output.read_text().strip() == "exit=1"
    assert "gate failed: --max-class-recall-drop" in done.stderr and "red" in done.stderr
    summary = (work / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith(MARKER) and "(https://example.test/pr-7/diff.html)" in summary
    assert {p.name for p in (work / "site").iterdir()} == {"base.html", "pr.html", "diff.html"}
    assert 'PR #7: Retrain "red" $(not run)' in (work / "site" / "diff.html").read_text(encoding="utf-8").replace(
        "&#34;", '"'
    )
    assert list((work / ".cache" / "confusion-report").rglob("*.npz"))
