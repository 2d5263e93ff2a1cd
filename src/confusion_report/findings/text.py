"""Number formatting for finding sentences (plain text; the template escapes it)."""

from __future__ import annotations


def pct(x: float, digits: int = 0) -> str:
    """0.473 -> '47%'."""
    return f"{100 * x:.{digits}f}%"


def pval(p: float) -> str:
    """A p-value as people read it: 'p = 0.003', 'p < 1e-12'."""
    if p < 1e-12:
        return "p < 1e-12"
    if p < 0.001:
        return f"p = {p:.0e}"
    return f"p = {p:.3f}"


def times(x: float) -> str:
    """A ratio: '3.6×'."""
    return "∞×" if x == float("inf") else f"{x:.1f}×"


def and_join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
