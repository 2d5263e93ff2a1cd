"""Gold-file comparison in the style of coverage.py: scrub volatile parts, compare whole files.

On a mismatch the actual output is saved under tests/actual/ for inspection. To accept new output
as the gold file, run:

    CONFUSION_REPORT_UPDATE_GOLD=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
GOLD = TESTS / "gold"
ACTUAL = TESTS / "actual"

_DATA_URI = re.compile(r"data:image/(png|webp|jpeg|svg\+xml);base64,[A-Za-z0-9+/=]+")
_JSON_SCRIPT = re.compile(r'(<script type="application/json" id="report-data">)(.*?)(</script>)', re.S)
_VOLATILE_LINE = re.compile(r'(<(p|dd|span) class="volatile">).*?(</\2>)', re.S)
_VERSION = re.compile(r'(<meta name="generator" content="confusion-report )[^"]+(">)')

# Keys of the embedded JSON whose values change from run to run or machine to machine.
_VOLATILE_KEYS = {
    "seconds",
    "warmup_seconds_waited",
    "created",
    "tool_version",
    "seconds_pass",
    "seconds_total",
    "images_per_second",
    "torch_version",
    "root",
    "device",
}


def _scrub_json(data):
    if isinstance(data, dict):
        return {k: "SCRUBBED" if k in _VOLATILE_KEYS else _scrub_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_scrub_json(v) for v in data]
    return data


def scrub_html(html: str, *, replacements: dict[str, str]) -> str:
    """Replace timestamps, versions, timings, machine paths and image payloads by fixed tokens."""
    for old, new in replacements.items():
        html = html.replace(old, new)
    html = _DATA_URI.sub(lambda m: f"data:image/{m[1]};base64,IMAGE", html)
    html = _VOLATILE_LINE.sub(lambda m: f"{m[1]}SCRUBBED{m[3]}", html)
    html = _VERSION.sub(r"\1VERSION\2", html)

    def pretty(m: re.Match) -> str:
        data = _scrub_json(json.loads(m[2]))
        return m[1] + "\n" + json.dumps(data, indent=1, ensure_ascii=False) + "\n" + m[3]

    return _JSON_SCRIPT.sub(pretty, html)


def compare_gold(name: str, actual: str) -> None:
    """Assert ``actual`` equals tests/gold/<name>; save tests/actual/<name> when it does not."""
    gold_path = GOLD / name
    if os.environ.get("CONFUSION_REPORT_UPDATE_GOLD") == "1":
        gold_path.parent.mkdir(parents=True, exist_ok=True)
        gold_path.write_text(actual, encoding="utf-8")
        return
    expected = gold_path.read_text(encoding="utf-8") if gold_path.exists() else ""
    if actual == expected:
        return
    ACTUAL.mkdir(parents=True, exist_ok=True)
    (ACTUAL / name).write_text(actual, encoding="utf-8")
    diff = "".join(
        list(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "gold", "actual"))[:80]
    )
    raise AssertionError(
        f"{name} differs from the gold file; actual output saved to {ACTUAL / name}.\n"
        f"If the change is intended: CONFUSION_REPORT_UPDATE_GOLD=1 python -m pytest tests/test_golden.py\n{diff}"
    )
