"""Pass/fail thresholds for CI: each gate reads the comparison and says what failed, by name."""

from __future__ import annotations

from dataclasses import dataclass

from ..findings.registry import SEVERITY_ORDER
from .results import Comparison

FINDING_LEVELS = ("high", "medium")
# A gate's message names this many classes or findings in full; the rest are counted (all are in .classes).
NAMED = 10


@dataclass(frozen=True)
class Gates:
    """The thresholds asked for; None leaves a gate out. Drops are in percentage points."""

    max_accuracy_drop: float | None = None
    max_class_recall_drop: float | None = None
    fail_on_new_finding: str | None = None  # "high" or "medium": that severity or worse

    def __post_init__(self) -> None:
        for name in ("max_accuracy_drop", "max_class_recall_drop"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be 0 or more percentage points")
        if self.fail_on_new_finding not in (None, *FINDING_LEVELS):
            raise ValueError(f"fail_on_new_finding must be one of {', '.join(FINDING_LEVELS)}")


@dataclass(frozen=True)
class GateResult:
    """One gate: its rule in words, whether it passed, and what broke it."""

    name: str
    rule: str
    passed: bool
    detail: str
    classes: tuple[str, ...] = ()


def _pp(value: float) -> str:
    return f"{100 * value:+.1f} pp"


def check_gates(c: Comparison, gates: Gates) -> tuple[GateResult, ...]:
    """Evaluate every gate that was asked for, in a fixed order (accuracy, class recall, findings)."""
    out = []
    if gates.max_accuracy_drop is not None:
        acc = next(m for m in c.metrics if m.key == "accuracy")
        drop = -100 * acc.delta
        out.append(
            GateResult(
                name="max-accuracy-drop",
                rule=f"accuracy drops by at most {gates.max_accuracy_drop:g} pp",
                passed=drop <= gates.max_accuracy_drop,
                detail=f"accuracy {100 * acc.base:.1f}% → {100 * acc.new:.1f}% ({_pp(acc.delta)})",
            )
        )
    if gates.max_class_recall_drop is not None:
        limit = gates.max_class_recall_drop
        # A drop counts only when McNemar's test on the class's own images finds it (BH-adjusted):
        # on a class with 12 images, one flip is 8 pp and proves nothing.
        failed = [r for r in c.per_class if -100 * r.recall_delta > limit and r.significant]
        noisy = [r for r in c.per_class if -100 * r.recall_delta > limit and not r.significant]
        if failed:
            detail = "; ".join(
                f"{r.name} recall {100 * r.recall_base:.1f}% → {100 * r.recall_new:.1f}% "
                f"({_pp(r.recall_delta)}, {r.right_to_wrong} of {r.support} right → wrong, q = {r.q_value:.2g})"
                for r in failed[:NAMED]
            )
            if len(failed) > NAMED:
                detail += f"; and {len(failed) - NAMED} more classes"
        else:
            detail = "no class's recall dropped significantly by more than that"
        if noisy:
            detail += f"; {len(noisy)} larger drop(s) not significant for their support: " + ", ".join(
                f"{r.name} ({_pp(r.recall_delta)}, n = {r.support})" for r in noisy[:5]
            )
        out.append(
            GateResult(
                name="max-class-recall-drop",
                rule=f"no class's recall drops significantly by more than {limit:g} pp",
                passed=not failed,
                detail=detail,
                classes=tuple(r.name for r in failed),
            )
        )
    if gates.fail_on_new_finding is not None:
        level = SEVERITY_ORDER[gates.fail_on_new_finding]
        # A finding that rose to the level counts as new at that level: the reviewer has not seen it there.
        hits = [
            f
            for f in c.findings
            if f.change in ("appeared", "severity")
            and SEVERITY_ORDER.get(f.new_severity or "", 9) <= level
            and (f.base_severity is None or SEVERITY_ORDER.get(f.base_severity, 9) > level)
        ]
        out.append(
            GateResult(
                name="fail-on-new-finding",
                rule=f"no new finding of severity {gates.fail_on_new_finding} or worse",
                passed=not hits,
                detail=("; ".join(f"{f.new_severity}: {f.title}" for f in hits[:NAMED]) or "none appeared")
                + (f"; and {len(hits) - NAMED} more" if len(hits) > NAMED else ""),
                classes=tuple(dict.fromkeys(cl for f in hits for cl in f.classes)),
            )
        )
    return tuple(out)
