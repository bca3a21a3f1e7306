"""Roster solver: the generic problem, the independent checker and the CP-SAT/LNS solver.

Pure Python (no Django). Public API::

    from medoa.modules.roster.solver import (
        Problem, Shift, Staff, Cover, Request, Rule, Violation, Solution, check, solve)

See ``problem.py`` for the fields and the rules, ``solve.py`` for the method.
"""

from .check import check
from .problem import Cover, Problem, Request, Rule, Shift, Solution, Staff, Violation, default_rules
from .solve import explain, solve

__all__ = [
    "Cover",
    "Problem",
    "Request",
    "Rule",
    "Shift",
    "Solution",
    "Staff",
    "Violation",
    "check",
    "default_rules",
    "explain",
    "solve",
]
