"""The exact row of one person, by the one-person CP-SAT model: what the DP tests compare against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from medoa.modules.roster.solver import Problem, Request
from medoa.modules.roster.solver.model import Builder, Compiled
from medoa.modules.roster.solver.search import _single


def exact_row(
    p: Problem,
    s: int,
    cost: np.ndarray,
    fix: dict[int, int],
    extra: Callable[[Builder], Any] | None = None,
) -> tuple[Problem, Compiled, list[int]]:
    """Person ``s`` alone with ``cost`` as shift requests and ``fix`` as locked cells, solved to
    optimality by the one-person CP-SAT model (``extra(b)``, when given, added to its objective):
    that problem, compiled, and its row."""
    H, T = cost.shape
    one = _single(p, s)
    one.requests = [
        Request(p.staff[s].id, d, p.shifts[t].id, bool(cost[d, t] < 0), int(abs(cost[d, t])))
        for d in range(H)
        for t in range(T)
        if cost[d, t] != 0
    ]
    one.fixed = {(p.staff[s].id, d): (p.shifts[t].id if t >= 0 else None) for d, t in fix.items()}
    c1 = Compiled(one)
    b = Builder(c1, [[-1] * H], [0])
    if extra is not None:
        b.m.minimize(sum(w * v for w, v in b.obj) + extra(b))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 30
    solver.parameters.num_workers = 2
    assert solver.solve(b.m) == cp_model.OPTIMAL
    return one, c1, b.read(solver, [[-1] * H])[0]
