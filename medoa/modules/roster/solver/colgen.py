"""Column generation: a roster as one row ("column") per person, priced by the row DP.

The restricted master problem chooses one column per person (convexity rows) and pays the cover
shortfall and excess with ``under``/``over`` variables:

    min  Σ cost(col)·λ + Σ wu·under + Σ wo·over
    s.t. Σ_k λ[s, k] = 1                                   (every person s, dual μ[s])
         Σ λ·works(col, d, t) + under[d, t] − over[d, t] = requirement[d, t]   (dual π[d, t])

Every hard rule is a person's own, so it lives in the columns: the pricing problem of person s is
their best valid row under the cell costs ``requests[s, d, t] − π[d, t]``, which is what
``rowdp`` computes (the caller's ``row`` function turns the DP row into a valid one, or None). A
column enters when its reduced cost is negative. The LP is solved by GLOP; the dual values are
used as they come (smoothing them took more rounds, see ``generate``). With a ``helper``
(``parallel.PricingProcess``) a second process prices the odd people of every round. With an
``escape`` pricing (the exact DP beside the construction's inexact rows), a round that brings no
column is priced once more by it against the same duals before the generation stops.

Integer rosters come from diving. A column dive fixes the people whose columns are closest to 1
and re-prices the LP for the others, repeat (``dive``; the caller repeats dives with smaller steps).
A cell dive fixes single cells — person, day, shift (or off) — whose LP value is closest to 1:
the person's columns that break the cell leave the LP, their pricing keeps it, repeat until every
person has one column (``cell_dive``); it leaves the LP far more freedom per step. The
restricted master as an integer programme over the columns so far (``integer``: CP-SAT,
``integer_mip``: SCIP) is kept for experiments: on Instance7 both stayed far above the dives.
Column generation with branching is how the best-known values of the Curtois & Qu instances were
found (with hours, not a minute).

It applies to the plain problem (the benchmark's rules): no skill covers, no hard covers, no
product rules, no re-planning; ``applies()`` says so.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from .model import Compiled
from .rowdp import RowPricer

PRICER_CELLS = 3_000_000  # days × states × minute units up to which a person gets the exact DP
COUNT_CELLS = 1_000_000  # … and up to which it also counts the tightest per-type maximum
ROUND_CELLS = 25_000_000  # exact pricing only when a pricing round (all staff) is this small
PEN_KEEP = 0.7  # a person's last per-type penalties, scaled, start their next row (pricing, sweeps)
# GLOP without its presolve: a third more pricing rounds in the same time (Instance13: 24 rounds
# in 12.5 s against 18; its LP 2 118 against 4 329)
LP_PARAMS = "use_preprocessing: false"
# a priced row over a per-type maximum is also repaired (``repair``), the cheaper valid row wins:
# Instance15's LP 3 873 after 21 s against 3 931, Instance13's 1 348 after 41 s against 1 474 at 55 s
REPAIR = True
REPAIR_PEN = 1e6  # a repaired type's price on the days it does not keep: never worth it
# with heuristic pricing, each round prices against SMOOTH × the last round's pricing duals +
# (1 − SMOOTH) × the LP's (Neame's smoothing), and a round that finds nothing so prices once more
# at the LP's own duals. The LP's duals swing from round to round while it heads in, most on long
# rows: 60 s, 2 workers, seeds 0–2, the LP after 21 s Instance19 3 970 against 4 144 (3 939–4 032
# against 3 976–4 438), Instance15 3 911 against 3 889, Instance13's after 30 s 1 732 against
# 1 790; whole runs (seven with it: seeds 0–3, 1–3 again; four without: seeds 0–3): Instance19
# 4 208 against 4 467, Instance15 4 088 against 4 146, Instance13 3 109 (six) against 3 371 (two).
# Exact pricing keeps plain duals: its LP converged in a few dozen rounds either way (Instance6, 7:
# 31 and 38 rounds with it against 40 and 48), and its dives and runs were not measured with it
SMOOTH = 0.5
HEURISTIC_DAYS = 120  # up to this horizon, column generation with heuristic pricing when exact is too slow

RowFn = Callable[[int, np.ndarray], list[int] | None]
# a pricing function: person, cell costs, the person's fixed cells (day → shift, -1 off) or None
FixRowFn = Callable[[int, np.ndarray, dict[int, int] | None], list[int] | None]


def request_costs(c: Compiled) -> tuple[np.ndarray, int]:
    """Each person's request cost of working (d, t) (S × H × T), and the constant of the
    on-requests (paid when not granted)."""
    req = np.zeros((c.S, c.H, c.T))
    offset = 0
    for s in range(c.S):
        for d, items in c.req[s].items():
            for rt, on, w in items:
                sign = -1 if on else 1
                if on:
                    offset += w
                if rt is None:
                    req[s, d, :] += sign * w
                else:
                    req[s, d, rt] += sign * w
    return req, offset


def row_price(cost: np.ndarray, row: list[int] | tuple[int, ...]) -> float:
    """What ``row`` pays under cell costs ``cost`` (d × T): the sum over its worked cells."""
    return float(sum(cost[d, t] for d, t in enumerate(row) if t >= 0))


def _over(limits: list[tuple[int, int]], row: list[int]) -> list[tuple[int, int]]:
    """The per-type maximums (type, limit) that ``row`` breaks."""
    return [(t, mx) for t, mx in limits if sum(1 for x in row if x == t) > mx]


class Helper(Protocol):
    """Prices some people of a round elsewhere (``parallel.PricingProcess``): ``submit`` sends the
    round's duals, those people's fixed cells and which pricing (the escape or the usual) — False
    when it is not ready or gone (``alive``), then the caller prices them —, ``collect`` waits for
    their rows (None when the helper is gone)."""

    def submit(
        self, pi: np.ndarray, items: list[tuple[int, dict[int, int] | None]], escape: bool
    ) -> bool: ...

    def collect(self) -> list[tuple[int, list[int] | None]] | None: ...

    @property
    def alive(self) -> bool: ...


def applies(c: Compiled) -> bool:
    p = c.p
    if p.previous is not None:
        return False
    if any(cv.skill is not None or cv.hard for cv in p.cover):
        return False
    seen = set()
    for cv in p.cover:
        if (cv.day, cv.shift) in seen:
            return False
        seen.add((cv.day, cv.shift))
    return True


class ColumnGeneration:
    def __init__(self, c: Compiled, row: FixRowFn, deadline: float, note: Callable[[str], None]) -> None:
        self.c = c
        self.row = row
        self.rounds = 0  # pricing rounds so far
        self.deadline = deadline
        self.note = note
        H, T, S = c.H, c.T, c.S
        self.req, self.offset = request_costs(c)
        self.helper: Helper | None = None  # prices a share of every round in another process
        self.escape: FixRowFn | None = None  # a slower, better pricing when ``row`` finds nothing
        self.smooth = 0.0  # pricing duals: this share of the last round's pricing duals, the rest the LP's
        self.cover: dict[tuple[int, int], tuple[int, int, int]] = {}
        for cv in c.p.cover:
            self.cover[(cv.day, c.tidx[cv.shift])] = (cv.requirement, cv.weight_under, cv.weight_over)
        self.cols: list[list[tuple[int, ...]]] = [[] for _ in range(S)]
        self.col_set: list[set[tuple[int, ...]]] = [set() for _ in range(S)]
        self.col_cost: list[list[float]] = [[] for _ in range(S)]
        self.fixed: dict[int, int] = {}  # person -> column index (diving)
        self.cells: list[dict[int, int]] = [{} for _ in range(S)]  # person -> day -> shift (cell dive)
        self.pi = np.zeros((H, T))  # the cover duals of the last LP solved
        self.dirty = True  # the LP changed since it was last solved
        self.lower = -np.inf
        self.solved = False  # the last solve of the LP found its optimum
        self._lp()

    # ---- the master LP ----------------------------------------------------------------------
    def _lp(self) -> None:
        lp = pywraplp.Solver.CreateSolver("GLOP")
        lp.SetSolverSpecificParametersAsString(LP_PARAMS)
        self.lp = lp
        self.conv = [lp.Constraint(1, 1) for _ in range(self.c.S)]
        self.cov: dict[tuple[int, int], Any] = {}
        obj = lp.Objective()
        self.obj = obj
        self.cov.update(_cover_rows(lp, obj, self.cover))
        obj.SetMinimization()
        self.lam: list[list[Any]] = [[] for _ in range(self.c.S)]

    def cost_of(self, s: int, row: tuple[int, ...] | list[int]) -> float:
        return row_price(self.req[s], row)

    def add(self, s: int, row: list[int] | tuple[int, ...]) -> bool:
        key = tuple(row)
        if key in self.col_set[s]:
            return False
        self.col_set[s].add(key)
        self.cols[s].append(key)
        cost = self.cost_of(s, key)
        self.col_cost[s].append(cost)
        v = self.lp.NumVar(0, 1, "")
        if s in self.fixed or not self.fits(s, key):
            v.SetUb(0)
        self.conv[s].SetCoefficient(v, 1)
        for d, t in enumerate(key):
            if t >= 0:
                ct = self.cov.get((d, t))
                if ct is not None:
                    ct.SetCoefficient(v, 1)
        self.obj.SetCoefficient(v, cost)
        self.lam[s].append(v)
        self.dirty = True
        return True

    def fix(self, s: int, k: int) -> None:
        self.fixed[s] = k
        self.dirty = True
        for i, v in enumerate(self.lam[s]):
            v.SetUb(1 if i == k else 0)

    def fits(self, s: int, key: tuple[int, ...]) -> bool:
        """Column ``key`` of person ``s`` keeps their fixed cells."""
        return all(key[d] == t for d, t in self.cells[s].items())

    def fix_cell(self, s: int, d: int, t: int) -> bool:
        """Hold person ``s`` to shift ``t`` (-1 off) on day ``d``: their other columns leave the LP;
        when none is left, a column is priced with the fixing. False (and undone) when the person
        has no valid row with it."""
        self.cells[s][d] = t
        self.dirty = True
        fit = False
        for key, v in zip(self.cols[s], self.lam[s], strict=True):
            ok = self.fits(s, key)
            fit = fit or ok
            if not ok:
                v.SetUb(0)
        if fit:
            return True
        row = self.row(s, self.req[s] - self.pi, self.cells[s])
        if row is not None and self.fits(s, tuple(row)):
            self.add(s, row)
            return True
        del self.cells[s][d]
        for key, v in zip(self.cols[s], self.lam[s], strict=True):
            if self.fits(s, key):
                v.SetUb(1)
        return False

    def unfix_all(self) -> None:
        self.dirty = True
        for s in range(self.c.S):
            if s in self.fixed or self.cells[s]:
                for v in self.lam[s]:
                    v.SetUb(1)
            self.cells[s].clear()
        self.fixed.clear()

    def solve_lp(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        st = self.lp.Solve()
        if st == pywraplp.Solver.ABNORMAL:
            # GLOP lost its way from the previous basis (Instance8, a dive at 4 522 columns): the
            # same LP from scratch solves
            self.note("colgen: the LP failed from its last basis, solved again from scratch")
            fresh = pywraplp.MPSolverParameters()
            fresh.SetIntegerParam(fresh.INCREMENTALITY, fresh.INCREMENTALITY_OFF)
            st = self.lp.Solve(fresh)
        self.dirty = False
        self.solved = st == pywraplp.Solver.OPTIMAL
        if not self.solved:
            return None
        H, T = self.c.H, self.c.T
        pi = np.zeros((H, T))
        for (d, t), ct in self.cov.items():
            pi[d, t] = ct.dual_value()
        self.pi = pi
        mu = np.array([ct.dual_value() for ct in self.conv])
        return self.obj.Value(), pi, mu

    def values(self) -> list[list[float]]:
        """The LP value of every column (all 0 when the LP has no solution)."""
        if self.dirty:
            self.solve_lp()
        if not self.solved:
            return [[0.0] * len(vs) for vs in self.lam]
        return [[v.solution_value() for v in vs] for vs in self.lam]

    # ---- pricing ------------------------------------------------------------------------------
    def generate(self, max_rounds: int = 1000, stop_at: float | None = None) -> float:
        """Price until no column enters (or the time is out); returns the last LP value.

        Converged when a pass over everybody with the same duals brings no column (then the LP
        value is the bound, when the pricing is exact). Partial pricing (re-solving the LP after
        every quarter of the staff that brought a column) was worse: Instance17 after 15 s CPU,
        LP 13 509 against 6 177 with full rounds.
        With exact pricing, plain duals: Wentges smoothing towards the best Lagrangian point took
        more rounds (Instance7: 87 rounds, 9.6 s CPU at α = 0.5; 45 rounds, 4.7 s without). With
        heuristic pricing the caller sets ``smooth`` (``SMOOTH``): rows are priced at smoothed
        duals, enter by their reduced cost at the LP's, and a round that brings nothing at the
        smoothed duals is repeated at the LP's before the generation counts as converged."""
        stop = self.deadline if stop_at is None else min(stop_at, self.deadline)
        people = [s for s in range(self.c.S) if s not in self.fixed]
        value = np.inf
        pos = 0
        escaping = False  # this round prices with ``escape``: the usual pricing found nothing
        centre: np.ndarray | None = None  # the smoothed duals (``smooth``)
        at_lp = True  # the next round prices at the LP's own duals (the first, after a mispricing)
        for rnd in range(max_rounds):
            if time.monotonic() >= stop or not people:
                break
            res = self.solve_lp()
            if res is None:
                break
            self.rounds += 1
            value, pi, mu = res
            added = priced = 0
            lp_pi = pi  # a row enters by its reduced cost under the LP's own duals
            smoothed = False
            if self.smooth > 0 and not escaping:
                if centre is None or at_lp:
                    centre = pi
                else:
                    centre = pi = self.smooth * centre + (1 - self.smooth) * pi
                    smoothed = True
                at_lp = False
            # a round prices everybody against the same duals (a second thread pricing half of
            # them made rounds slower: Instance15 40 rounds in 10 s against 48); a helper process
            # prices the odd people (always the same ones: their penalty warm starts stay theirs)
            order = people[pos:] + people[:pos]
            theirs: list[int] = []
            price = self.escape if escaping and self.escape is not None else self.row
            if self.helper is not None:
                theirs = [s for s in order if s % 2]
                if self.helper.submit(pi, [(s, self.cells[s] or None) for s in theirs], escaping):
                    order = [s for s in order if not s % 2]
                else:  # not started yet, or gone
                    theirs = []
                    if not self.helper.alive:
                        self.helper = None
            for s in order:
                if time.monotonic() >= stop:
                    break
                priced += 1
                added += self._offer(s, price(s, self.req[s] - pi, self.cells[s] or None), lp_pi, mu)
            if theirs:
                assert self.helper is not None
                rows = self.helper.collect()
                if rows is None:  # the helper is gone: its people are priced here from now on
                    self.helper = None
                    rows = [(s, price(s, self.req[s] - pi, self.cells[s] or None)) for s in theirs]
                for s, row in rows:
                    added += self._offer(s, row, lp_pi, mu)
                priced += len(rows)
            pos = (pos + priced) % len(people)
            converged = not added and priced == len(people)
            if converged and smoothed:
                at_lp = True  # a mispricing: the smoothed duals found nothing, the LP's may
                continue
            if converged and self.escape is not None and not escaping:
                escaping = True  # the same duals once more, with the other pricing
                self.note(f"colgen step {rnd}: lp {value + self.offset:.1f}, the other pricing")
                continue
            escaping = False
            if rnd % 20 == 0 or converged:
                self.note(f"colgen step {rnd}: lp {value + self.offset:.1f} added {added}")
            if converged:
                self.lower = value + self.offset  # a bound when the pricing was exact
                break
        if self.dirty:
            self.solve_lp()  # the values and duals of the LP as it is now
        return value

    def _offer(self, s: int, row: list[int] | None, pi: np.ndarray, mu: np.ndarray) -> int:
        """Add person ``s``'s priced row when it keeps their fixed cells and its reduced cost is
        negative; 1 when it entered."""
        if row is None or not self.fits(s, tuple(row)):
            return 0
        rc = self.cost_of(s, row) - row_price(pi, row) - mu[s]
        return int(rc < -1e-6 and self.add(s, row))

    # ---- integer rosters -----------------------------------------------------------------------
    def _used(self) -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
        """Each column with a positive LP value: its person, its value, the days it works (a mask)
        and the shift of each of them."""
        for s, xs in enumerate(self.values()):
            for k, v in enumerate(xs):
                if v > 1e-9:
                    row = np.array(self.cols[s][k])
                    on = row >= 0
                    yield s, v, on, row[on]

    def cell_values(self) -> np.ndarray:
        """Staff × days × shifts: the LP value of each cell (the sum of the person's columns that
        work it) less the LP value of the person's day off on that day."""
        c = self.c
        out = np.zeros((c.S, c.H, c.T))
        days = np.arange(c.H)
        for s, v, on, shifts in self._used():
            out[s, days[on], shifts] += v
            out[s, days[~on], :] -= v
        return out

    def support(self) -> np.ndarray:
        """Staff × days × shifts: True where a column with a positive LP value works the cell."""
        c = self.c
        out = np.zeros((c.S, c.H, c.T), dtype=bool)
        days = np.arange(c.H)
        for s, _, on, shifts in self._used():
            out[s, days[on], shifts] = True
        return out

    def largest(self) -> list[int]:
        """Each person's column of the largest LP value."""
        return [int(np.argmax(v)) if v else 0 for v in self.values()]

    def roster(self, choice: list[int]) -> list[list[int]]:
        """The rows of a choice of columns, all off for a person without one (-1)."""
        return [list(self.cols[s][k]) if k >= 0 else [-1] * self.c.H for s, k in enumerate(choice)]

    def objective(self, choice: list[int]) -> float:
        H, T = self.c.H, self.c.T
        n = np.zeros((H, T))
        total = 0.0
        for s, k in enumerate(choice):
            total += self.col_cost[s][k]
            for d, t in enumerate(self.cols[s][k]):
                if t >= 0:
                    n[d, t] += 1
        for (d, t), (rq, wu, wo) in self.cover.items():
            x = n[d, t]
            total += wu * max(0, rq - x) + wo * max(0, x - rq)
        return total + self.offset

    def index_of(self, s: int, row: list[int]) -> int:
        key = tuple(row)
        if key not in self.col_set[s]:
            self.add(s, key)
        return self.cols[s].index(key)

    def integer(self, limit: float, workers: int, seed: int, hint: list[int] | None) -> list[int] | None:
        """CP-SAT on the columns so far: one per person, cover paid by under/over."""
        c = self.c
        m = cp_model.CpModel()
        y = [[m.new_bool_var("") for _ in self.cols[s]] for s in range(c.S)]
        for s in range(c.S):
            m.add_exactly_one(y[s])
        terms: list[Any] = []
        by_cell: dict[tuple[int, int], list[Any]] = {}
        for s in range(c.S):
            for k, col in enumerate(self.cols[s]):
                cost = round(self.col_cost[s][k])
                if cost:
                    terms.append(cost * y[s][k])
                for d, t in enumerate(col):
                    if t >= 0 and (d, t) in self.cover:
                        by_cell.setdefault((d, t), []).append(y[s][k])
        for key, (rq, wu, wo) in self.cover.items():
            vs = by_cell.get(key, [])
            n = sum(vs) if vs else 0
            if wu > 0 and rq > 0:
                under = m.new_int_var(0, rq, "")
                m.add(under >= rq - n)
                terms.append(wu * under)
            if wo > 0 and vs:
                over = m.new_int_var(0, len(vs), "")
                m.add(over >= n - rq)
                terms.append(wo * over)
        m.minimize(sum(terms))
        if hint is not None:
            for s, k in enumerate(hint):
                for i, v in enumerate(y[s]):
                    m.add_hint(v, int(i == k))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, limit)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        st = solver.solve(m)
        self.note(
            f"colgen integer: {solver.status_name(st)} {solver.objective_value + self.offset:.0f} "
            f"bound {solver.best_objective_bound + self.offset:.0f} over {sum(map(len, self.cols))} columns"
        )
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        self.ip_optimal = st == cp_model.OPTIMAL
        return [next(i for i, v in enumerate(y[s]) if solver.boolean_value(v)) for s in range(c.S)]

    def integer_mip(self, limit: float, hint: list[int] | None, engine: str = "SCIP") -> list[int] | None:
        """The restricted master as a MIP (SCIP: its LP is this LP, so its bound is tight)."""
        c = self.c
        mip = pywraplp.Solver.CreateSolver(engine)
        if mip is None:
            return None
        y = [[mip.BoolVar("") for _ in self.cols[s]] for s in range(c.S)]
        obj = mip.Objective()
        for s in range(c.S):
            ct = mip.Constraint(1, 1)
            for k, v in enumerate(y[s]):
                ct.SetCoefficient(v, 1)
                obj.SetCoefficient(v, self.col_cost[s][k])
        cts = _cover_rows(mip, obj, self.cover)
        for s in range(c.S):
            for k, col in enumerate(self.cols[s]):
                for d, t in enumerate(col):
                    if t >= 0 and (d, t) in cts:
                        cts[(d, t)].SetCoefficient(y[s][k], 1)
        obj.SetMinimization()
        if hint is not None:
            mip.SetHint([y[s][k] for s, k in enumerate(hint)], [1.0] * len(hint))
        mip.SetTimeLimit(int(max(0.1, limit) * 1000))
        st = mip.Solve()
        if st not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            self.note(f"colgen {engine}: no roster ({st})")
            return None
        self.note(
            f"colgen {engine}: {obj.Value() + self.offset:.0f} bound {obj.BestBound() + self.offset:.0f} "
            f"over {sum(map(len, self.cols))} columns, optimal {st == pywraplp.Solver.OPTIMAL}"
        )
        return [max(range(len(y[s])), key=lambda k: y[s][k].solution_value()) for s in range(c.S)]

    def dive(
        self, stop_at: float, max_rounds: int = 10, step: int = 0, noise: float = 0.0, seed: int = 0
    ) -> list[int]:
        """Fix the person whose column is closest to 1 (and every column ≥ 0.99), re-price, repeat."""
        S = self.c.S
        rng = random.Random(seed)  # noqa: S311 - diversification of the dives
        while len(self.fixed) < S and time.monotonic() < stop_at:
            vals = self.values()
            tops = []
            for s in range(S):
                if s in self.fixed or not vals[s]:
                    continue
                k = int(np.argmax(vals[s]))
                if vals[s][k] >= 0.95:
                    self.fix(s, k)
                else:
                    tops.append((vals[s][k] + noise * rng.random(), s, k))
            # the most integral of the others: a tenth of the staff per step keeps the dive short
            tops.sort(reverse=True)
            for _, s, k in tops[: step or max(1, S // 8)]:
                self.fix(s, k)
            if len(self.fixed) < S:
                self.generate(max_rounds=max_rounds, stop_at=stop_at)
        # out of time: -1 for the people not fixed (the caller completes the roster)
        return [self.fixed.get(s, -1) for s in range(S)]

    def cell_dive(
        self, stop_at: float, max_rounds: int = 5, share: float = 0.1, noise: float = 0.0, seed: int = 0
    ) -> list[int]:
        """Fix single cells instead of whole columns: the (person, day, shift) values of the LP
        closest to 1 that are not yet integral, a ``share`` of them per step, re-price, repeat
        until every person has one column. Returns each person's column, -1 where the LP is
        still fractional when the time is out."""
        S = self.c.S
        rng = random.Random(seed)  # noqa: S311 - diversification of the dives
        tabu: set[tuple[int, int, int]] = set()
        while time.monotonic() < stop_at:
            vals = self.values()
            if not self.solved:
                break
            cands: list[tuple[float, int, int, int]] = []
            for s in range(S):
                xs = vals[s]
                if not xs or max(xs) >= 1 - 1e-6:
                    continue
                acc: dict[tuple[int, int], float] = {}
                for k, v in enumerate(xs):
                    if v > 1e-6:
                        for d, t in enumerate(self.cols[s][k]):
                            if d not in self.cells[s]:
                                acc[(d, t)] = acc.get((d, t), 0.0) + v
                for (d, t), x in acc.items():
                    if x < 1 - 1e-6 and (s, d, t) not in tabu:
                        cands.append((x + noise * rng.random(), s, d, t))
            if not cands:
                break
            cands.sort(reverse=True)
            want = max(1, int(share * len(cands)))
            taken: set[tuple[int, int]] = set()
            for _, s, d, t in cands:
                if len(taken) >= want:
                    break
                if (s, d) in taken:
                    continue
                taken.add((s, d))
                if not self.fix_cell(s, d, t):
                    tabu.add((s, d, t))
            self.generate(max_rounds=max_rounds, stop_at=stop_at)
        vals = self.values()
        return [int(np.argmax(xs)) if xs and self.solved and max(xs) >= 1 - 1e-6 else -1 for xs in vals]


class Pricing:
    """Each person's pricing row: the exact ``RowPricer`` when it is small enough, per-type maximums
    kept by penalties that double until they hold, or by ``repair`` when that is cheaper;
    ``fallback(s, cost)`` otherwise."""

    def __init__(self, c: Compiled, fallback: FixRowFn) -> None:
        self.c = c
        self.fallback = fallback
        self.pricers: dict[int, RowPricer | None] = {}
        self.limits = limits_of(c)
        self.exact = True  # every row so far the cheapest valid one (the LP bound is a bound)
        self.pens: dict[int, np.ndarray] = {}  # the penalties that last kept each person's maximums
        self.passes = 0  # DP passes so far (a row takes more than one when penalties are raised)
        self.heuristic_only = False  # every row from the caller's function (``heuristic``)

    def heuristic(self) -> None:
        """Price everybody with the caller's row function (faster, not exact: no lower bound)."""
        self.pricers = dict.fromkeys(range(self.c.S))
        self.heuristic_only = True

    def escape(self) -> Pricing | None:
        """The exact pricing beside this heuristic one (``ColumnGeneration.escape``), None when
        this one is exact already."""
        return Pricing(self.c, self.fallback) if self.heuristic_only else None

    def _pricer(self, s: int) -> RowPricer | None:
        if s not in self.pricers:
            pr = RowPricer(self.c, s, max_size=COUNT_CELLS)
            if pr.size > COUNT_CELLS:
                pr = RowPricer(self.c, s, count=False, max_size=PRICER_CELLS)
            self.pricers[s] = pr if pr.size <= PRICER_CELLS else None
        return self.pricers[s]

    def round_cells(self, limit: float = float("inf")) -> float:
        """Cells one pricing round sweeps (every person's exact DP); inf when one has none or the
        sum passes ``limit`` (counted without building the rest)."""
        total = 0.0
        for s in range(self.c.S):
            pr = self._pricer(s)
            if pr is None:
                return float("inf")
            total += pr.size
            if total > limit:
                return float("inf")
        return total

    def __call__(self, s: int, cost: np.ndarray, fix: dict[int, int] | None = None) -> list[int] | None:
        pr = self._pricer(s)
        if pr is None:
            self.exact = False
            return self.fallback(s, cost, fix)
        # the penalties that last kept this person's maximums, scaled down, start the next pricing:
        # the duals of a round are close to the last round's (Instance13: 2.3 DP passes a row from
        # zero penalties; 60 s, quiet machine: Instance17 5 746 against 5 803, Instance8 1 307
        # against 1 312)
        pen = PEN_KEEP * self.pens.get(s, np.zeros(self.c.T))
        scale = max(1.0, float(np.abs(cost).mean()))
        first: list[int] | None = None  # the first row over a maximum: the repair starts from it
        for _ in range(12):
            row = pr.price(cost + pen if pen.any() else cost, fix)
            self.passes += 1
            if row is None:
                return None
            over = [t for t, _ in _over(self.limits[s], row)]
            if over or pen.any():
                self.exact = False  # a row under penalties need not be the cheapest valid one
            if not over:
                self.pens[s] = pen
                break
            if first is None:
                first = row
            for t in over:
                pen[t] = scale if pen[t] == 0 else pen[t] * 2
        else:
            row = self.fallback(s, cost, fix)
        if first is not None and REPAIR:
            fixed = repair(pr, self.limits[s], cost, fix, first)
            if fixed is not None and (row is None or row_price(cost, fixed) < row_price(cost, row)):
                return fixed
        return row


def limits_of(c: Compiled) -> list[list[tuple[int, int]]]:
    """Each person's per-type maximums (type, limit) that can bind: 0 < limit < days."""
    p = c.p
    if not c.enabled("max_shifts"):
        return [[] for _ in p.staff]
    return [
        [
            (t, st.max_shifts[sh.id])
            for t, sh in enumerate(p.shifts)
            if 0 < st.max_shifts.get(sh.id, c.H) < c.H
        ]
        for st in p.staff
    ]


def repair(
    pr: RowPricer, limits: list[tuple[int, int]], cost: np.ndarray, fix: dict[int, int] | None, row: list[int]
) -> list[int] | None:
    """A row near ``row``, which works some types more often than their maximums (``limits``):
    each such type keeps its cheapest days of ``row`` up to the maximum and is priced out of every
    other day. Penalties on the whole type go from all of those shifts to none instead (the duals
    of one type are alike over the days): Instance15 at its LP's stall, rows 300–700 dearer than
    the cheapest valid one, 0–15 repaired (the test's rows: −687 against −268, the cheapest −762).
    None when the DP finds no row."""
    extra = np.zeros_like(cost)
    for _ in range(len(limits) + 1):
        over = _over(limits, row)
        if not over:
            return row
        for t, mx in over:
            days = sorted((d for d, x in enumerate(row) if x == t), key=lambda d: cost[d, t])
            extra[:, t] = REPAIR_PEN
            extra[days[:mx], t] = 0.0
        nxt = pr.price(cost + extra, fix)
        if nxt is None:
            return None
        row = nxt
    return None


def _cover_rows(
    solver: Any, obj: Any, cover: dict[tuple[int, int], tuple[int, int, int]]
) -> dict[tuple[int, int], Any]:
    """One row per cover requirement in ``solver``: Σ rows − under + over = required, with the
    shortfall and the excess priced at their weights in ``obj``."""
    rows = {}
    inf = solver.infinity()
    for key, (rq, wu, wo) in cover.items():
        ct = solver.Constraint(rq, rq)
        under = solver.NumVar(0, inf, "")
        over = solver.NumVar(0, inf, "")
        ct.SetCoefficient(under, 1)
        ct.SetCoefficient(over, -1)
        obj.SetCoefficient(under, wu)
        obj.SetCoefficient(over, wo)
        rows[key] = ct
    return rows
