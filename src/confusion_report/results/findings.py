"""The automatic findings as the report and the JSON carry them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One statement the report makes, with its evidence."""

    kind: str
    severity: str
    title: str
    text: str
    classes: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
