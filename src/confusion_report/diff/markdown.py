"""The pull-request comment: short GitHub-flavoured Markdown, no images, a hidden marker to find it again."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import DiffResult
    from .results import MetricDelta

# A CI job looks for this line to update its one comment instead of adding one per push.
MARKER = "<!-- confusion-report -->"
# GitHub refuses comments over 65,536 characters; stay well under it whatever the names.
MAX_CHARS = 60_000
TOP_CLASSES = 10
TOP_PAIRS = 5
TOP_FLIPS = 20

# Only what changes meaning inline or in a table cell; "<", ">" and "&" become entities.
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: object) -> str:
    """Text as literal Markdown: punctuation that GitHub interprets is escaped, HTML is neutralised."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", s).replace("\n", " ")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _pp(value: float) -> str:
    return f"{100 * value:+.1f} pp".replace("-", "−")


def _signed(value: int) -> str:
    return f"{value:+d}".replace("-", "−")


def _metric_row(m: MetricDelta) -> str:
    fmt = _pct if m.key != "ece" else (lambda v: f"{v:.3f}")
    change = _pp(m.delta) if m.key != "ece" else f"{m.delta:+.3f}".replace("-", "−")
    interval = (
        f"{_pp(m.low)} to {_pp(m.high)}" if m.key != "ece" else f"{m.low:+.3f} to {m.high:+.3f}".replace("-", "−")
    )
    mark = " ▼ worse" if m.worse else " ▲ better" if m.better else ""
    if m.worse:
        change = f"**{change}**"
    return f"| {m.label} | {fmt(m.base)} | {fmt(m.new)} | {change}{mark} | {interval} |"


def diff_markdown(r: DiffResult) -> str:
    """The whole comment; the failed gates and the worst classes come first."""
    c = r.comparison
    lines = [MARKER]
    if not r.gates:
        verdict = "no gates set"
    elif r.failed_gates:
        verdict = f"❌ {len(r.failed_gates)} of {len(r.gates)} gate(s) failed"
    else:
        verdict = f"✅ all {len(r.gates)} gate(s) passed"
    lines += [
        f"### confusion-report diff: {verdict}",
        "",
        f"**NEW** {md(r.new.label)} vs **BASE** {md(r.base.label)}, {c.n_common:,} images in common"
        + (f" ({c.only_base} only in BASE, {c.only_new} only in NEW, left out)" if c.only_base or c.only_new else "")
        + ".",
        "",
    ]
    if r.gates:
        for g in r.gates:
            icon = "✅" if g.passed else "❌"
            lines.append(f"- {icon} **{g.name}**: {md(g.rule)}. {md(g.detail)}")
        lines.append("")
    lines += [
        "| metric | BASE | NEW | change | 95% CI (paired bootstrap) |",
        "|:--|--:|--:|--:|:--|",
        *(_metric_row(m) for m in c.metrics),
        "",
        f"**Flips:** {c.mcnemar.right_to_wrong} right → wrong, {c.mcnemar.wrong_to_right} wrong → right "
        f"(McNemar p = {c.mcnemar.p_value:.2g}); {c.mcnemar.wrong_changed} wrong in both but with another class.",
        "",
    ]
    changed = [k for k in c.per_class if k.recall_delta or k.precision_delta]
    if changed:
        lines += [
            "#### Classes, worst recall change first",
            "",
            "| class | recall BASE → NEW | change | precision change | right → wrong | wrong → right | images |",
            "|:--|--:|--:|--:|--:|--:|--:|",
        ]
        for k in changed[:TOP_CLASSES]:
            change = _pp(k.recall_delta) + (" (significant)" if k.significant else "")
            if k.significant and k.recall_delta < 0:
                change = f"**{change}**"
            lines.append(
                f"| {md(k.name)} | {_pct(k.recall_base)} → {_pct(k.recall_new)} | {change} | "
                f"{_pp(k.precision_delta)} | {k.right_to_wrong} | {k.wrong_to_right} | {k.support} |"
            )
        if len(changed) > TOP_CLASSES:
            lines.append(f"\n…and {len(changed) - TOP_CLASSES} more classes changed (see the full report).")
        lines.append("")
    else:
        lines += ["No class's recall or precision changed.", ""]
    for heading, pairs in (("Confusions that grew", c.worse_pairs), ("Confusions that shrank", c.better_pairs)):
        if not pairs:
            continue
        lines += [f"#### {heading}", "", "| true → predicted | BASE | NEW | change |", "|:--|--:|--:|--:|"]
        lines += [
            f"| {md(p.true)} → {md(p.pred)} | {p.base} | {p.new} | {_signed(p.delta)} |" for p in pairs[:TOP_PAIRS]
        ]
        if len(pairs) > TOP_PAIRS:
            lines.append(f"\n…and {len(pairs) - TOP_PAIRS} more.")
        lines.append("")
    if c.findings:
        lines += ["#### Findings", ""]
        for f in c.findings:
            if f.change == "appeared":
                lines.append(f"- 🆕 new, **{f.new_severity}**: {md(f.title)}")
            elif f.change == "disappeared":
                lines.append(f"- ✔️ gone (was {f.base_severity}): {md(f.title)}")
            else:
                lines.append(f"- ↕️ {f.base_severity} → **{f.new_severity}**: {md(f.title)}")
        lines.append("")
    for label, flips in (("right → wrong", c.right_to_wrong), ("wrong → right", c.wrong_to_right)):
        if not flips:
            continue
        lines += [
            f"<details><summary>{len(flips)} image(s) flipped {label}</summary>",
            "",
            "| image | true | BASE | NEW |",
            "|:--|:--|:--|:--|",
        ]
        lines += [
            f"| {md(f.path)} | {md(f.true)} | {md(f.base_pred)} {_pct(f.base_confidence)} | "
            f"{md(f.new_pred)} {_pct(f.new_confidence)} |"
            for f in flips[:TOP_FLIPS]
        ]
        if len(flips) > TOP_FLIPS:
            lines.append(f"\n…and {len(flips) - TOP_FLIPS} more, with thumbnails, in the full report.")
        lines += ["", "</details>", ""]
    for w in c.warnings:
        lines += [f"> ⚠️ {md(w)}", ""]
    if r.report_url:
        lines += [f"**[Open the full diff report]({_url(r.report_url)})**", ""]
    lines.append(
        f"<sub>confusion-report diff: intervals from {c.bootstrap} paired bootstrap resamples of the common images; "
        "a class's recall change is significant when McNemar's exact test on its images holds after "
        "Benjamini-Hochberg (q &lt; 0.05).</sub>"
    )
    text = "\n".join(lines) + "\n"
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS].rsplit("\n", 1)[0]
        text = cut + "\n\n…(cut to stay under GitHub's comment limit; see the full report)\n"
    return text


def _url(url: str) -> str:
    """A link target that cannot break out of the Markdown link: spaces and parentheses percent-encoded."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
