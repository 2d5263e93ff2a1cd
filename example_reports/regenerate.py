"""Regenerate example_reports/: the demo report and the index page that links it.

    python example_reports/regenerate.py

The folder can be served as is by GitHub Pages (index.html links every report).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from pathlib import Path

from confusion_report.demo import run_demo

HERE = Path(__file__).resolve().parent

REPORTS = [
    (
        "demo-digits.html",
        "Demo: a small CNN on scikit-learn's handwritten digits",
        "A deliberately small CNN trained for a few seconds; it confuses 8 with 1 and 2 with 3.",
    ),
]


def main() -> None:
    """Build every example report and write index.html."""
    with tempfile.TemporaryDirectory() as work:
        # A relative work folder keeps this machine's paths out of the committed report.
        os.chdir(work)
        run_demo(
            out=HERE / "demo-digits.html",
            workdir=Path("confusion-report-demo"),
            progress=False,
            command="confusion-report demo",
        )
    items = "\n".join(
        f'    <li><a href="{html.escape(name)}">{html.escape(title)}</a><br><span>{html.escape(text)}</span></li>'
        for name, title, text in REPORTS
    )
    (HERE / "index.html").write_text(INDEX.format(items=items), encoding="utf-8")
    shutil.rmtree(HERE / "__pycache__", ignore_errors=True)


INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>confusion-report examples</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; }}
  li {{ margin: 1rem 0; }} span {{ color: #5b6475; }}
</style>
</head>
<body>
  <h1>confusion-report examples</h1>
  <p>Each report is one self-contained HTML file: open it from disk, attach it, or host it as here.</p>
  <ul>
{items}
  </ul>
</body>
</html>
"""

if __name__ == "__main__":
    main()
