"""Automatic findings: one small rule per kind turns the evidence into a ranked list of statements.

Every rule is a pure function ``FindingInputs -> Finding | None`` in its own module; it fires only on
significant evidence (a proper test, multiple-testing control, minimum counts) and its sentence says
no more than the evidence shows. :func:`run_rules` runs them all and ranks what fired.
"""

from .inputs import FindingInputs
from .registry import RULES, rank_findings, run_rules

__all__ = ["RULES", "FindingInputs", "rank_findings", "run_rules"]
