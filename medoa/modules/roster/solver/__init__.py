"""Roster solver: the generic problem, the independent checker and the CP-SAT/LNS solver.

Pure Python (no Django). Public API::

    from medoa.modules.roster.solver import (
        Problem, Shift, Staff, Cover, Request, Rule, Violation, Solution, check, solve)

See ``problem.py`` for the fields and the rules, ``search.py`` for the method. ``solve`` and
``explain`` (from ``search.py``) load on first use: they bring OR-tools (with pandas) and numba,
1.6 s of every process's start (the web server, the worker, each CLI command) that most
processes never need.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .check import check
from .problem import Cover, Problem, Request, Rule, Shift, Solution, Staff, Violation, default_rules

if TYPE_CHECKING:
    from .search import explain, solve


def __getattr__(name: str) -> Any:
    if name in ("solve", "explain"):
        return getattr(importlib.import_module(".search", __name__), name)
    raise AttributeError(name)


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
