"""``solve()``: construction heuristic, then CP-SAT on the full model (small problems) or
large-neighbourhood search (LNS), then the independent checker and an explanation in words.

1. Start roster: ``previous`` (re-planning) or all off; locked cells applied.
2. Construction: one person at a time, an exact CP-SAT model of that person's row (all their hard
   rules, every day) against the cover left by the people already placed. The hard rules of the
   base problem are per person (cover is soft), so this gives a feasible roster whenever one exists
   for each person; a person whose rules contradict each other is solved elastically (hard rules
   softened with slack) and the broken rules become elastic for the rest of the run.
3. Improvement until the time limit: the full model with the roster as a hint when it is small
   (``FULL_CELLS``), otherwise LNS: repeatedly free a neighbourhood — a group of people over all
   days, a window of days for everyone, a block of people × days, or (long horizons) two weekends
   for many people — keep the rest fixed, and re-solve it with CP-SAT from the current roster as a
   complete hint, accepting equal or better.
   The neighbourhood sizes adapt: solved to optimality quickly → larger, timed out → smaller.
4. ``check()`` gives the objective, the breakdown and the hard violations of the result; the
   explanation groups the remaining violations (the non-zero slacks) by rule, person and days.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from . import colgen
from .check import check, cover_share
from .colgen import PEN_KEEP, ColumnGeneration, Pricing
from .model import Builder, Compiled
from .parallel import PricingProcess
from .problem import FAIRNESS_KEYS, HARD_RULES, PRODUCT_RULES, Problem, Solution, Violation
from .rowdp import RowPricer, best_weekends

FULL_CELLS = 3000  # staff × days × shifts up to which CP-SAT runs its complete search
FULL_MODEL_CELLS = 25000  # up to this size the full model with a hint, beyond it our own LNS
DP_MIN_DAYS = 56  # the DP row builder is used from this horizon on (CP-SAT per person below)
COLGEN_SHARE = 0.35  # column generation runs for this share of the time, the dives until DIVE_END
DIVE_END = 0.5
DIVE_END_BOUND = 0.7  # … when the column generation proved its bound (its dives are worth the time)
DIVE_END_NEAR = 0.65  # … see ``dive_end``
DIVE_NEAR = 1.3  # a dive's roster at most this many times the LP value is near it
DIVE = "cell"  # dives fix single cells (person, day, shift); "column": whole columns
CELL_ROUNDS = 15  # pricing rounds at most after each step of a cell dive (DP pricing)
CELL_ROUNDS_HEURISTIC = 5  # … with the construction's rows as the pricing (slower rounds)
CELL_SHARE = 0.1  # share of the fractional cells fixed per step
# … with exact pricing and no proved bound: shorter dives, more of them. 60 s, 2 workers: Instance8
# (its LP 1 297 unproved; its rosters one missing shift apart, 1 301–1 323 or 1 399–1 418, and a
# dive lands within 2 % about one time in five) 11 of 12 seeds within 2 % (1 303–1 314, one
# 1 505) against 4 of 7 at 0.1; Instance17 5 746 twice against 5 749 and 5 748. Where the bound is
# proved, precise dives win (Instance12 at 0.2: 4 055 and 4 148 against 4 041 and 4 040). With
# heuristic pricing it was a wash: Instance15 4 420, 4 202, 4 247 against 4 218, 4 426, 4 810,
# 4 709, but Instance19 4 023–4 659, mean 4 418 (seven runs) against 3 958–4 366, mean 4 176 (four)
CELL_SHARE_UNPROVED = 0.2
# heuristic pricing on a ward too big for the full model (Instance13): column generation until
# GUIDE_END of the time, then LP-guided sweeps instead of dives (``guided``), then CP-SAT on the
# model restricted to the LP's support for SUPPORT_SHARE of the time left (``support_model``)
GUIDE_END = 0.5
GUIDE_BETAS = (1000.0, 300.0, 100.0, 30.0, 10.0, 0.0)  # the pull towards the LP, step by step
GUIDE_TRIES = 1  # guided roundings, each in its own random orders
SUPPORT_SHARE = 0.85
SUPPORT_LEFT = 0.15  # … when at least this share of the time is left (Instance13's takes 2.5 s to build)
# heuristic pricing before CP-SAT's full model (Instance15, 19): the support model first, for
# SUPPORT_SHARE_FULL of the time left, when the best dive is within SUPPORT_NEAR times the LP
SUPPORT_SHARE_FULL = 0.5
SUPPORT_NEAR = 1.25
CORRIDOR = 12  # the DP rows' minutes stay within this many longest shifts of the pace
# DP rows: bisection steps between the last penalties whose row broke a per-type maximum and the
# first that kept them all (the penalties double from one try to the next: up to twice what it takes)
PEN_BISECT = 4
# the sweeps and the heuristic pricing also price each row with the DP that counts weekends worked
# while a person's DP has at most this many cells (Instance19–22: 5–12 million; Instance23/24:
# 150–250 million, 0.7–0.9 s a row)
WEEKEND_DP_CELLS = 20e6
# when the DP rows price column generation, they count the tightest per-type maximum exactly if it
# is this small (nights: 3–4 in six weeks); a larger one stays with the penalties. Penalties that
# keep a small maximum cost far more than the cheapest valid row (Instance15, 60 s: 4 735–4 825 in
# four runs against 4 988–5 076); a count of 11–21 on Instance19 made its DP 12× larger (6 008
# against 4 325). Where column generation prices exactly, the sweeps' rows stay uncounted and fast
# (Instance12 counted: 4 046 and 4 141; the same seeds' runs spread as far, 4 042–4 146, so no
# gain to pay for rows 3× larger)
DP_COUNT_LIMIT = 5
PRICING_PROCESS = True  # with two workers or more, a second process prices half of each round
# … and builds every other row of the sweeps before the LNS (``_Run._pair``): a sweep of Instance22
# in 1.05 s instead of 1.9. With the sweeps' share of the time at 0.3 instead of 0.5, 60 s, seeds
# 1–3, means: Instance20 5 288 against 5 359, Instance21 22 133 against 22 240, Instance22 36 464
# against 37 275; seed 1: Instance23 27 910 against 28 657, Instance24 66 716 against 68 588
SWEEP_PROCESS = True
ESCAPE = True  # heuristic pricing: when it finds nothing, a round of the exact DP (counting one maximum)
RESTART_CELLS = 20000  # staff × days up to which the LNS starts from the best of several sweep orders
SWEEP_SHARE = 0.2  # LNS: a DP sweep after a gain while the sweeps have had at most this share of its time
# … on rosters of more than ``RESTART_CELLS`` staff × days (Instance23, 24), where a neighbourhood
# gains little (Instance23: 58 in half a minute gained 1 572, four sweeps of 2 s each 2 292). 60 s,
# seeds 0–5, Instance23 mean 28 031 against 28 597 (better on four); seeds 0–2, Instance24 65 285,
# 66 987, 67 282 against 67 945, 70 019, 68 769
SWEEP_SHARE_BIG = 0.4
GUIDED = True  # LNS: windows of days drawn by the penalty they hold, not uniformly
LNS_PARALLEL = True  # LNS: as many neighbourhoods at once as workers, one CP-SAT worker each
LNS_DRAWS = 20  # … each drawn until it is apart from those running, at most this many times
LNS_GAP = 7  # … apart: this many days between them, or no person in common
LNS_LAST = 1.0  # no neighbourhood starts with less time left (Instance24 overran 0.47 s by 0.6 s)
# the sweeps before the LNS price each weekend worked on both days at this (a bonus, see
# ``_Run.weekend_bonus``)
WEEKEND_FULL = -1000.0
WEEKEND_FULL_COUNTED = -300.0  # … where the sweeps count weekends (``weekend_bonus``)
# LNS: first passes over the horizon, windows of a few days for everybody side by side (``_Lns``)
SLIDE = True
SLIDE_CELLS = 1000.0  # … each window of about this many cells (staff × days × shifts), 2 days at least
SLIDE_LIMIT = 1.0  # … CP-SAT's seconds for each
# a pass that gains less than this share of the objective: the next one day wider. With the faster
# main thread (``_Lns._laid``), Instance20's 3-day passes gained 539, 279, 34, 23, 2 in 4 s each:
# 0.5 % instead of 0.1 %, 60 s, seeds 0–2: Instance20 5 208, 5 186, 5 320 against 5 245, 5 307,
# 5 382; seeds 1, 2: Instance21 22 116, 22 070 against 22 061, 22 234, Instance22 35 969, 35 381
# against 36 301, 36 838
SLIDE_SMALL = 0.005
SLIDE_MAX_DAYS = 7  # … up to this many days, then the drawn neighbourhoods
RESTARTS_SHARE = 0.2  # before the LNS: sweeps from several orders for this share of the time left
# … then sweeps (with the weekend bonus) for at most this share of the time left: 0.3 since the
# helper process builds every other row (``SWEEP_PROCESS``), half before
SWEEPS_SHARE = 0.3
WEEKENDS = True  # LNS on long horizons: neighbourhoods of a few weekends (``_Lns._draw_weekends``)
WEEKEND_COUNT = 2  # … of this many weekends (three: Instance20 5 999 and 6 408 against 5 730 and 5 607)
# … with this many free cells at first, as the sizes adapt: all of Instance20's and Instance22's
# people (2 000: Instance20 6 082 and 6 152)
WEEKEND_CELLS = 4000.0
# product rules the DP does not model: with any of them on, rows come from CP-SAT (the fairness
# rules are the ward's, not a person's row's)
DP_UNSUPPORTED = tuple(r for r in PRODUCT_RULES if not r.startswith("fair_"))
ALL_HARD = frozenset(HARD_RULES) | {"cover_minimum", "keep_previous", *PRODUCT_RULES}


def dive_end(proved: bool, full_next: bool, best: float, lp: float) -> float:
    """The share of the time until which column generation's dives run, given whether it proved
    its bound, whether CP-SAT's full model comes next (heuristic pricing, a small model), the best
    roster so far and the LP value.

    A proved bound makes dives worth the time (``DIVE_END_BOUND``). Before the full model, dives go
    on while the best one is near the LP: a later dive starts from the columns of the earlier ones
    and lands nearer (Instance15, 60 s, 2 workers, seeds 0–9: median 4 034, mean 4 078 in 14 runs
    against 4 102 and 4 174 in 11 runs stopping at half the time; one run 3 895, under its goal;
    until 0.8: 4 094–4 097, the full model too short). A first dive far from the LP leaves the work
    to the full model (Instance19's LP is far from converged, its dives land at 1.4–1.5× it)."""
    if proved:
        return DIVE_END_BOUND
    if full_next and best <= DIVE_NEAR * lp:
        return DIVE_END_NEAR
    return DIVE_END


class _Marginal:
    """The cost of one more person on each day and shift, given everybody else (cover, requests)."""

    def __init__(self, c: Compiled, cur: list[list[int]]) -> None:
        self.c = c
        H, T = c.H, c.T
        self.req = np.zeros((H, T))
        self.wu = np.zeros((H, T))
        self.wo = np.zeros((H, T))
        self.cnt = np.zeros((H, T))
        self.skill_covers: list[tuple[int, int, str, int, int, int]] = []  # d, t, skill, req, wu, wo
        self.skill_cnt: dict[tuple[int, int, str], int] = {}
        for d in range(H):
            for cv in c.cover_by_day[d]:
                t = c.tidx[cv.shift]
                wu = cv.weight_under if not cv.hard else 1000
                if cv.skill is None:
                    self.req[d, t] += cv.requirement
                    self.wu[d, t] += wu
                    self.wo[d, t] += cv.weight_over
                else:
                    self.skill_covers.append((d, t, cv.skill, cv.requirement, wu, cv.weight_over))
        for s in range(c.S):
            self.add(s, cur[s])

    def _apply(self, s: int, row: list[int], sign: int) -> None:
        for d, t in enumerate(row):
            if t >= 0:
                self.cnt[d, t] += sign
                for sk in self.c.skills[s]:
                    key = (d, t, sk)
                    self.skill_cnt[key] = self.skill_cnt.get(key, 0) + sign

    def add(self, s: int, row: list[int]) -> None:
        self._apply(s, row, 1)

    def remove(self, s: int, row: list[int]) -> None:
        self._apply(s, row, -1)

    def cost(self, s: int) -> np.ndarray:
        c = self.c
        cost = np.where(self.cnt < self.req, -self.wu, self.wo)
        for d, t, sk, rq, wu, wo in self.skill_covers:
            if sk in c.skills[s]:
                cost[d, t] += -wu if self.skill_cnt.get((d, t, sk), 0) < rq else wo
        for d, items in c.req[s].items():
            for rt, on, w in items:
                sign = -1 if on else 1
                if rt is None:
                    cost[d, :] += sign * w
                else:
                    cost[d, rt] += sign * w
        return cost


@dataclass
class _Hood:
    """A neighbourhood being solved: what it frees, its model, and the roster it was built from."""

    kind: str
    staff: list[int]
    days: list[int]  # sorted
    b: Builder
    before: int  # the model's objective at the hint
    limit: float
    solver: cp_model.CpSolver
    version: int  # the LNS roster's version when it was built
    cur: list[list[int]]

    @property
    def lo(self) -> int:
        return self.days[0]

    @property
    def hi(self) -> int:
        return self.days[-1] + 1

    def overlaps(self, staff: list[int], days: list[int]) -> bool:
        """Whether a neighbourhood of ``staff`` on ``days`` comes near this one: days within
        ``LNS_GAP`` of each other and a person in common."""
        if not any(abs(d - e) <= LNS_GAP for d in days for e in self.days):
            return False
        return not set(staff).isdisjoint(self.staff)


def _single(p: Problem, s: int) -> Problem:
    """The problem of one person alone (their own rules, no cover, no requests)."""
    st = p.staff[s]
    return Problem(
        horizon=p.horizon,
        shifts=p.shifts,
        staff=[st],
        start_weekday=p.start_weekday,
        forbidden_follow=p.forbidden_follow,
        days_off={st.id: p.days_off.get(st.id, set())},
        fixed={k: v for k, v in p.fixed.items() if k[0] == st.id},
        holidays=p.holidays,
        rules=p.rules,
    )


def _solver(limit: float, workers: int, seed: int) -> cp_model.CpSolver:
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = max(0.05, limit)
    s.parameters.num_workers = workers
    s.parameters.random_seed = seed
    return s


class _Run:
    def __init__(
        self, p: Problem, time_limit: float, workers: int, seed: int, on_solution: Any, verbose: bool
    ) -> None:
        self.p = p
        self.c = Compiled(p)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + time_limit
        self.time_limit = time_limit
        self.workers = workers
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - search diversification, not security
        self.on_solution = on_solution
        self.verbose = verbose
        self.log: list[str] = []
        self.elastic: set[str] = {"cover_minimum"}
        self.proven_infeasible = False
        self.first_feasible: float | None = None
        self.optimal = False
        self.swept = False  # the last ``sweeps`` changed a row
        self.bound: int | None = None  # a proven lower bound on the objective (column generation)
        self._hint_row: list[int] | None = None
        self.support: np.ndarray | None = None  # the LP's support, for ``support_model``
        self._fell_back = False
        self._wp = 0.0
        self._pricers: dict[int, RowPricer] = {}
        self._pens: dict[int, np.ndarray] = {}
        self._wpricers: dict[int, RowPricer | None] = {}
        self._subs: dict[int, Problem] = {}  # each person's problem alone, for checking their rows
        self._people: dict[int, Problem] = {}  # … with their requests and previous roster (``person_share``)
        self._limits = colgen.limits_of(self.c)
        self.count_rows = False  # the DP rows price column generation: small maximums counted
        # small enough for CP-SAT's full model after the start; beyond it our own LNS
        self.full_fits = self.c.S * self.c.H * self.c.T <= FULL_MODEL_CELLS
        # staff × days past ``RESTART_CELLS``: one sweep order only, more of the LNS for the sweeps
        self.big = self.c.S * self.c.H > RESTART_CELLS
        self._weekend = np.array([p.is_weekend(d) for d in range(self.c.H)], dtype=float)
        self.sub_limit = float(os.environ.get("ROSTER_LNS_LIMIT", "2.0"))
        self.bonus = 0.0  # the DP rows' price of a weekend worked on both days (``weekend_bonus``)
        self._pairs = [ds for ds in self.c.weekend_days.values() if len(ds) == 2]
        self.helper: PricingProcess | None = None  # builds every other row of the sweeps (``_pair``)
        self.paired = 0  # rows the helper built

    def note(self, msg: str) -> None:
        line = f"{time.monotonic() - self.t0:7.2f}s {msg}"
        self.log.append(line)
        if self.verbose:
            print(line, flush=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    # -------------------------------------------------------------------------------------
    def start(self) -> list[list[int]]:
        c = self.c
        if self.p.previous is not None:
            cur = c.from_assignment({k: list(v) for k, v in self.p.previous.items()})
        else:
            cur = [[-1] * c.H for _ in range(c.S)]
        for s in range(c.S):
            for d, t in c.fixed[s].items():
                cur[s][d] = t
        return cur

    def construct(self, cur: list[list[int]]) -> list[list[int]]:
        c = self.c
        order = list(range(c.S))
        # the most constrained first: a narrower minutes window, more days off
        order.sort(
            key=lambda s: (self.p.staff[s].max_minutes - self.p.staff[s].min_minutes, -len(c.days_off[s]))
        )
        budget = max(0.5, 0.5 * self.left())
        big = not self.full_fits
        dp_rules = not any(c.enabled(r) for r in DP_UNSUPPORTED)
        use_dp = (c.H >= DP_MIN_DAYS or big) and dp_rules
        marg = _Marginal(c, cur)
        slowest = 0.0
        misses = 0
        for i, s in enumerate(order):
            t_person = time.monotonic()
            if self.left() <= 0.5 + slowest:
                self.note(f"construction: out of time, {c.S - i} people keep their start rows")
                break
            marg.remove(s, cur[s])
            per = max(0.2, min(5.0, (budget - (time.monotonic() - self.t0)) / max(1, c.S - i)))
            row = None
            if use_dp:
                row = self._row_dp(s, marg)
            if row is None:
                # when CP-SAT finds no row in its share of the time (a loaded machine: Instance12
                # kept 2 broken rows), the DP's row; not as a hint: hinted rows were worse
                # (construction of Instance11 9 094 against 6 769)
                fallback = (lambda s=s: self._row_dp(s, marg)) if dp_rules and not use_dp else None
                row = self._row_cpsat(s, cur, per, fallback=fallback)
                if fallback is not None and self._fell_back:
                    misses += 1
                    if misses >= 3:  # CP-SAT keeps missing: the DP for everybody left
                        use_dp = True
                        self.note("construction: the DP for the remaining people")
                else:
                    misses = 0
            cur[s] = row
            marg.add(s, row)
            slowest = max(slowest, time.monotonic() - t_person)
        return cur

    def _row_dp(
        self,
        s: int,
        marg: _Marginal | None,
        cost: np.ndarray | None = None,
        fix: dict[int, int] | None = None,
    ) -> list[int] | None:
        """A valid row for person ``s`` from the DP, or None (then ``_hint_row`` is the last try).

        The DP (``RowPricer`` without the weekend counter, minutes in a corridor around the pace)
        keeps stretches, successions and the minutes window exactly; the weekend maximum is kept by
        leaving off the least valuable weekends beyond it (then a growing weekend penalty), per-type
        maximums by growing per-type penalties."""
        c = self.c
        st = self.p.staff[s]
        if cost is None:
            assert marg is not None
            cost = marg.cost(s)
        pr = self._pricers.get(s)
        if pr is None:
            count = self.count_rows and DP_COUNT_LIMIT > 0
            pr = self._pricers[s] = RowPricer(
                c, s, count=count, weekends=False, corridor=CORRIDOR, count_limit=DP_COUNT_LIMIT
            )
        sub = self._sub(s)
        # the penalties that made this person's last row valid, a little lower: rows of the same
        # person under similar costs need similar ones (a sweep prices everybody again and again)
        pen = PEN_KEEP * self._pens.get(s, np.zeros(c.T))
        wp = 0.0
        blocked: set[int] | None = best_weekends(c, s, cost)
        first: tuple[list[int], np.ndarray] | None = None
        lo_pen: np.ndarray | None = None  # the last penalties whose row broke a maximum
        self._hint_row = None
        for _ in range(20):
            cc = cost + pen
            if wp:
                cc += wp * self._weekend[:, None]
            if blocked:
                cc[sorted(blocked), :] = 1e13  # not allowed (the DP's "big")
            row = pr.price(cc, fix, full=self.bonus)
            if row is None:
                if blocked:
                    blocked = None
                    wp = max(wp, self._wp)
                    continue
                return None
            viol = check(sub, c.to_assignment_one(s, row))[1]
            if not viol:
                if blocked is None:
                    self._wp = 0.8 * wp
                if lo_pen is not None and PEN_BISECT:
                    row, pen = self._bisect(s, pr, sub, cc - pen, fix, lo_pen, pen, row)
                self._pens[s] = pen
                if first is not None:
                    fixed = colgen.repair(pr, self._limits[s], first[1], fix, first[0])
                    if (
                        fixed is not None
                        and colgen.row_price(cost, fixed) < colgen.row_price(cost, row)
                        and not check(sub, c.to_assignment_one(s, fixed))[1]
                    ):
                        return fixed
                return row
            self._hint_row = row
            rules = {v.rule for v in viol}
            if first is None and rules == {"max_shifts"} and self.count_rows and colgen.REPAIR:
                # these rows price column generation: the repair's start, the row and its costs
                # before penalties (the construction and sweeps of Instance20–24 do without: 2–3 %
                # worse with it, 60 s)
                first = (row, cc - pen)
            if "max_shifts" in rules:
                lo_pen = pen.copy()
                # a group of types the DP treats as one (same class and length) over the sum of its
                # maximums gets the penalty as a whole, else the cheapest of the group takes over
                # and the next one goes over (Instance22: a1 ↔ p1 without end)
                counts = np.bincount([x for x in row if x >= 0], minlength=c.T)
                for ts in pr.opt_types:
                    cap = sum(st.max_shifts.get(self.p.shifts[t].id, c.H) for t in ts)
                    over = [t for t in ts if counts[t] > st.max_shifts.get(self.p.shifts[t].id, c.H)]
                    if over and counts[ts].sum() > cap:
                        over = ts
                    for t in over:
                        pen[t] = 30.0 if pen[t] == 0 else pen[t] * 2
            if "max_weekends" in rules:
                blocked = None
                wp = 20.0 if wp < 20 else wp * 2
            if rules - {"max_shifts", "max_weekends"}:
                break
        return None

    def _sub(self, s: int) -> Problem:
        if s not in self._subs:
            self._subs[s] = _single(self.p, s)
        return self._subs[s]

    def _weekend_pricer(self, s: int) -> RowPricer | None:
        """Person ``s``'s DP that counts weekends worked, None when they have no weekend maximum
        or it would have more than ``WEEKEND_DP_CELLS`` cells."""
        if s not in self._wpricers:
            new = RowPricer(self.c, s, count=False, corridor=CORRIDOR, max_size=WEEKEND_DP_CELLS)
            self._wpricers[s] = new if new.size <= WEEKEND_DP_CELLS and new.track_w else None
        return self._wpricers[s]

    def _row_weekends(self, s: int, cost: np.ndarray, fix: dict[int, int] | None = None) -> list[int] | None:
        """Person ``s``'s cheapest row from the DP that counts weekends worked (``RowPricer`` with
        the weekend count, in the minutes corridor) under ``cost`` and their last penalties, when it
        keeps every rule; None when it does not or when that DP is larger than ``WEEKEND_DP_CELLS``."""
        pr = self._weekend_pricer(s)
        if pr is None:
            return None
        pen = self._pens.get(s)
        row = pr.price(cost if pen is None else cost + PEN_KEEP * pen, fix, full=self.bonus)
        if row is None or check(self._sub(s), self.c.to_assignment_one(s, row))[1]:
            return None
        return row

    def _bisect(
        self,
        s: int,
        pr: RowPricer,
        sub: Problem,
        base: np.ndarray,
        fix: dict[int, int] | None,
        lo: np.ndarray,
        hi: np.ndarray,
        row: list[int],
    ) -> tuple[list[int], np.ndarray]:
        """Penalties between ``lo`` (its row broke a per-type maximum) and ``hi`` (its ``row`` keeps
        them all), bisected: the cheapest valid row under ``base`` and the penalties that gave it."""
        best, best_pen, best_price = row, hi, self._price(base, row)
        for _ in range(PEN_BISECT):
            mid = 0.5 * (lo + hi)
            cand = pr.price(base + mid, fix, full=self.bonus)
            if cand is None or check(sub, self.c.to_assignment_one(s, cand))[1]:
                lo = mid
                continue
            hi = mid
            price = self._price(base, cand)
            if price < best_price:
                best, best_pen, best_price = cand, mid, price
        return best, best_pen

    def _row_cpsat(
        self,
        s: int,
        cur: list[list[int]],
        per: float,
        fallback: Callable[[], list[int] | None] | None = None,
    ) -> list[int]:
        c = self.c
        hint = self._hint_row
        self._hint_row = None
        self._fell_back = False
        if hint is not None:
            cur = [row[:] for row in cur]
            cur[s] = hint
        b = Builder(c, cur, [s], elastic=self.elastic)
        solver = _solver(per, 1, self.seed + s)
        st = solver.solve(b.m)
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return b.read(solver, cur)[s]
        if fallback is not None and st != cp_model.INFEASIBLE:
            row = fallback()  # a valid row (checked by check()) or None
            self._hint_row = None
            if row is not None:
                self.note(f"construction: the DP's row for {self.p.staff[s].id}")
                self._fell_back = True
                return row
        # contradictory or too hard within the time: the elastic model of this person
        if st == cp_model.INFEASIBLE:
            self.proven_infeasible = True
            self.note(f"construction: rules of {self.p.staff[s].id} contradict each other")
        else:
            self.note(f"construction: no row for {self.p.staff[s].id} in {per:.2f}s")
        b = Builder(c, cur, [s], elastic=ALL_HARD)
        solver = _solver(max(per, 1.0), self.workers, self.seed + s)
        st = solver.solve(b.m)
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            for sl in b.slacks:
                if solver.value(sl.var) > 0:
                    self.elastic.add(sl.rule)
            return b.read(solver, cur)[s]
        return cur[s]

    def restarts(self, cur: list[list[int]], share: float) -> list[list[int]]:
        """Sweeps from ``cur`` in one random order after another for ``share`` of the time left;
        the best local optimum wins. Where the sweeps end depends on the order, and the full model
        depends on where it starts (Instance12, one order: 4 559 and then 4 143–4 246 after the
        full model; another: 4 363 and then the optimum, 4 040)."""
        stop = time.monotonic() + share * self.left()
        best, best_obj = cur, self.evaluate(cur)[0]
        tries = 0
        while time.monotonic() < stop:
            tries += 1
            cand = self.sweeps([row[:] for row in cur], 1.0, stop=stop, quiet=True)
            obj, viol = self.evaluate(cand)
            if not viol and obj < best_obj:
                best, best_obj = cand, obj
        self.note(f"sweeps: {tries} orders, best {best_obj}")
        return best

    def sweeps(
        self,
        cur: list[list[int]],
        share: float,
        max_sweeps: int = 100,
        stop: float | None = None,
        quiet: bool = False,
        pull: np.ndarray | None = None,
    ) -> list[list[int]]:
        """Best-response sweeps: each person's row re-optimised by the DP against everybody else,
        kept when cheaper, until a sweep changes nothing or ``share`` of the time left is used.
        ``pull`` (staff × days × shifts) is taken off each person's cell costs (``guided``).
        ``cur`` is changed in place and returned; ``self.swept`` says whether any row changed."""
        c = self.c
        self.swept = False
        stop = min(stop or math.inf, time.monotonic() + share * self.left())
        marg = _Marginal(c, cur)
        sweep = 0
        while time.monotonic() < stop and sweep < max_sweeps:
            sweep += 1
            gained = 0.0
            order = list(range(c.S))
            self.rng.shuffle(order)
            i = 0
            while i < len(order) and time.monotonic() < stop:
                s = order[i]
                other = order[i + 1] if i + 1 < len(order) else None
                sent = other is not None and self._pair(other, cur, marg, pull)
                gained += self._respond(s, cur, marg, pull)
                if sent:
                    assert other is not None
                    gained += self._respond(other, cur, marg, pull, self._paired_row())
                    i += 1
                i += 1
            if not quiet:
                self.note(f"sweep {sweep}: gained {gained:.0f} ({self.paired} rows by the helper so far)")
            if gained <= 0:
                break
        return cur

    def before_lns(self, cur: list[list[int]]) -> list[list[int]]:
        """Sweeps from several orders on long rows (``restarts``), then sweeps, both with the
        weekend bonus (``weekend_bonus``) and the helper process (``_pair``); the better of ``cur``
        and their roster."""
        start = [row[:] for row in cur]
        self.bonus = self.weekend_bonus()
        self.start_helper()
        try:
            if self.c.H >= DP_MIN_DAYS and not self.big:
                # long rows, few people: several orders fit (60 s pairs, quiet machine: Instance20
                # 8 388 against 8 834, Instance21 30 671 against 31 720); Instance23/24 fit one;
                # short rows of many people left the LNS too little time (Instance13 6 199–7 436
                # against 4 165–4 280)
                cur = self.restarts(cur, RESTARTS_SHARE)
            cur = self.sweeps(cur, SWEEPS_SHARE)
        finally:
            self.stop_helper()  # the LNS's CP-SAT has both cores
        if self.bonus:
            # the bonus is the sweeps' price, not the roster's: the better roster goes on (from
            # column generation's roster, Instance13's sweeps took 2 438 to 5 292)
            self.bonus = 0.0  # the LNS and its sweeps price the roster as it is
            if self.evaluate(start)[0] <= self.evaluate(cur)[0]:
                cur = start
        return cur

    def start_helper(self) -> None:
        """A second process for the sweeps' rows (``_pair``) when there are two workers or more."""
        if not (SWEEP_PROCESS and self.workers >= 2):
            return
        try:
            self.helper = PricingProcess(
                self.p, None, heuristic=False, count_rows=self.count_rows, seed=self.seed
            )
        except OSError as exc:  # no process to be had: the sweeps build every row here
            self.note(f"sweeps: no second process ({exc})")

    def stop_helper(self) -> None:
        if self.helper is not None:
            self.helper.close()
            self.helper = None

    def _cost(self, s: int, marg: _Marginal, pull: np.ndarray | None) -> np.ndarray:
        return marg.cost(s) if pull is None else marg.cost(s) - pull[s]

    def _respond(
        self,
        s: int,
        cur: list[list[int]],
        marg: _Marginal,
        pull: np.ndarray | None,
        built: tuple[list[int] | None] | None = None,
    ) -> float:
        """Person ``s``'s best response in a sweep: the row the helper ``built`` (None in it when it
        found none) or else the DP's row against everybody else, kept when cheaper; the gain."""
        marg.remove(s, cur[s])
        cost = self._cost(s, marg, pull)
        old = self._price(cost, cur[s])
        new_row = self._row_priced(s, cost, None) if built is None else built[0]
        gain = 0.0
        if new_row is not None:
            new = self._price(cost, new_row)
            if new < old - 1e-9:
                cur[s] = new_row
                gain = old - new
                self.swept = True
        marg.add(s, cur[s])
        return gain

    def _pair(self, s: int, cur: list[list[int]], marg: _Marginal, pull: np.ndarray | None) -> bool:
        """Send person ``s``'s costs against everybody else to the helper (``helper``), whose row
        comes back while this process builds another person's; False when there is no helper."""
        if self.helper is None:
            return False
        marg.remove(s, cur[s])
        cost = self._cost(s, marg, pull)
        marg.add(s, cur[s])
        if self.helper.submit_rows([(s, cost)], self.bonus):
            return True
        if not self.helper.alive:
            self.helper = None
        return False

    def _paired_row(self) -> tuple[list[int] | None] | None:
        """The helper's row for the person sent (``_pair``) in a tuple; None (priced here) when the helper is
        gone. It was built before the other person of the pair moved: ``_respond`` prices it again."""
        assert self.helper is not None
        rows = self.helper.collect()
        if rows is None:
            self.helper = None
            return None
        self.paired += 1
        return (rows[0][1],)

    def _price(self, cost: np.ndarray, row: list[int]) -> float:
        """``row``'s price under ``cost``, with ``bonus`` for each weekend it works on both days."""
        price = colgen.row_price(cost, row)
        if self.bonus:
            price += self.bonus * sum(row[a] >= 0 and row[b] >= 0 for a, b in self._pairs)
        return price

    def weekend_bonus(self) -> float:
        """The price of a weekend worked on both days in the sweeps before the LNS: ``WEEKEND_FULL``
        on long horizons (``DP_MIN_DAYS``) when someone may work fewer weekends than there are,
        else 0.

        Weekends are what the long benchmark instances run short of: Instance20 asks for 1 239
        weekend shifts of 50 people who may work 1 260 at most (13 weekends each), Instance21
        and 22 ask for more than that (2 502 of 2 420, 2 721 of 2 640). A weekend worked on one
        day spends one of the person's weekends on half of it; best responses leave such weekends
        (the other day is covered by someone else, who is in the same position), and the roster
        is short of weekend shifts: 81 half-worked weekends on Instance20 and 64 shifts short of
        the cover, mostly on Saturdays and Sundays. Priced as a bonus in the sweeps before the LNS,
        whole weekends win. 60 s, 2 workers, Instance20–24, seeds 0 and 1: 6 275, 6 405; 23 616,
        23 688; 47 875, 48 161; 30 525, 30 139; 71 238, 75 377, against 8 589, 7 462; 27 146,
        29 565; 71 304, 65 342; 39 158, 42 852; 85 211, 86 552 without it (docs/roster.md,
        seventeenth session). A bonus of 300: 6 634, 30 232, 73 839 on Instance20, 23, 24; of
        3 000: 6 162, 53 236, 75 028 on 20, 22, 24. The same bonus in the LNS's sweeps too:
        6 481, 53 084, 75 468; a tenth of it there: within the spread. A charge on weekends
        worked on one day instead: less (1 000: 6 282, 34 871 on Instance23, 87 648 on 24; people
        with weekends to spare dropped them); both, 300 each: about the bonus alone.

        Where the sweeps also price rows with the DP that counts weekends (``_row_weekends``, for
        everybody with a weekend maximum), a smaller bonus, ``WEEKEND_FULL_COUNTED``, does better:
        seeds 0 and 1, Instance20 5 466, 5 514 and Instance22 39 218, 38 430 against 5 671, 5 789
        and 40 928, 40 119 with −1 000 (Instance21 22 847, 23 010 against 23 011, 22 756).
        Instance23/24, without that DP, stay at −1 000 (−300: 28 187 and 70 967 against 28 283 and
        67 780)."""
        c = self.c
        n = len(c.weekend_days)
        if c.H < DP_MIN_DAYS or not c.enabled("max_weekends"):
            return 0.0  # measured on long horizons only (the DP builds their rows)
        limited = [s for s, st in enumerate(self.p.staff) if st.max_weekends < n]
        if not limited:
            return 0.0
        if all(self._weekend_pricer(s) is not None for s in limited):
            return WEEKEND_FULL_COUNTED
        return WEEKEND_FULL

    def evaluate(self, cur: list[list[int]]) -> tuple[int, list[Violation]]:
        obj, viol, _ = check(self.p, self.c.to_assignment(cur))
        return obj, viol

    def person_share(self, s: int, row: list[int]) -> tuple[int, list[Violation]]:
        """Person ``s``'s share of the checker's objective with ``row`` (their rules, requests and
        previous roster; the cover and fairness rules apart) and the rules it breaks."""
        if s not in self._people:
            one = self._people[s] = _single(self.p, s)
            sid = self.p.staff[s].id
            one.requests = [rq for rq in self.p.requests if rq.staff == sid]
            if self.p.previous is not None:
                one.previous = {sid: self.p.previous[sid]} if sid in self.p.previous else {}
                one.replan_days = self.p.replan_days
        obj, viol, _ = check(self._people[s], self.c.to_assignment_one(s, row))
        return obj, viol

    def record(self, cur: list[list[int]], obj: int, viol: list[Violation]) -> None:
        if not viol and self.first_feasible is None:
            self.first_feasible = time.monotonic() - self.t0
        if self.on_solution is not None:
            self.on_solution(self.c.to_assignment(cur), obj, len(viol))

    # -------------------------------------------------------------------------------------
    def full(self, cur: list[list[int]]) -> list[list[int]]:
        c = self.c
        b = Builder(c, cur, list(range(c.S)), elastic=self.elastic)
        solver = _solver(self.left(), self.workers, self.seed)
        if c.S * c.H * c.T > FULL_CELLS:
            # the LP bound of this model is weak; CP-SAT's own neighbourhood search does the work
            solver.parameters.use_lns_only = True
        run = self
        offset: list[float] = []  # our objective minus the model's, learnt on the first roster

        class CB(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                if run.first_feasible is None and all(
                    self.value(sl.var) == 0
                    for sl in b.slacks
                    if sl.rule in ALL_HARD and run.p.rule(sl.rule).hard
                ):
                    run.first_feasible = time.monotonic() - run.t0
                # a roster that meets the bound ends the search; the checker runs on the first
                # roster and on one that may meet it, not on every improvement
                if run.bound is not None and (not offset or self.objective_value + offset[0] <= run.bound):
                    obj, viol = run.evaluate(b.read(self, cur))
                    if not offset and not viol:
                        offset.append(obj - self.objective_value)
                    if not viol and obj <= run.bound:
                        run.note(f"full model: {obj} meets the column generation's lower bound")
                        run.optimal = True
                        self.stop_search()

        st = solver.solve(b.m, CB())
        self.note(f"full model: {solver.status_name(st)} objective {solver.objective_value}")
        if st == cp_model.OPTIMAL:
            self.optimal = True
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return b.read(solver, cur)
        return cur

    def pricing(self) -> colgen.Pricing:
        return colgen.Pricing(self.c, self._row_priced)

    def _row_priced(self, s: int, cost: np.ndarray, fix: dict[int, int] | None) -> list[int] | None:
        """The sweeps' rows and column generation's heuristic ones: the construction's DP row or,
        when cheaper, the weekend-counting DP's (``_row_weekends``), a second opinion that keeps the
        weekend maximum exactly where it is small enough. In the heuristic pricing, 60 s, seeds 0
        and 1: Instance19 3 758, 3 397 against 4 425, 3 710 without it; Instance15 4 083, 3 978
        against 3 986, 4 090."""
        row = self._row_dp(s, None, cost=cost, fix=fix)
        wrow = self._row_weekends(s, cost, fix)
        if wrow is not None and (row is None or self._price(cost, wrow) < self._price(cost, row)):
            return wrow
        return row

    def colgen(self, cur: list[list[int]], pricing: colgen.Pricing | None = None) -> list[list[int]]:
        """Column generation from DP rows, a diving heuristic for an integer roster (see
        ``colgen.py``); returns the better of ``cur`` and the dive's roster."""
        pricing = pricing or self.pricing()
        helper = None
        if PRICING_PROCESS and self.workers >= 2:
            try:
                helper = PricingProcess(
                    self.p,
                    pricing,
                    heuristic=pricing.heuristic_only,
                    count_rows=self.count_rows,
                    seed=self.seed,
                )
            except OSError as exc:  # no process to be had: this one prices alone
                self.note(f"colgen: no pricing process ({exc})")
        try:
            return self._colgen(cur, pricing, helper)
        finally:
            if helper is not None:
                helper.close()

    def _colgen(
        self, cur: list[list[int]], pricing: Pricing, helper: PricingProcess | None
    ) -> list[list[int]]:
        c = self.c
        # a first roster: each person's exact row against the cover the others leave
        marg = _Marginal(c, cur)
        for s in range(c.S):
            marg.remove(s, cur[s])
            row = pricing(s, marg.cost(s))
            if row is not None:
                cur[s] = row
            marg.add(s, cur[s])
        obj, viol = self.evaluate(cur)
        self.note(f"colgen: first roster {obj}, {len(viol)} hard violations")
        if viol:
            return cur
        self.record(cur, obj, viol)
        cg = colgen.ColumnGeneration(c, pricing, self.deadline, self.note)
        cg.helper = helper
        if ESCAPE:
            cg.escape = pricing.escape()
        if pricing.heuristic_only:
            cg.smooth = colgen.SMOOTH
        for s in range(c.S):
            cg.add(s, cur[s])
        span = self.left()
        pricing.exact = True
        lp = cg.generate(stop_at=time.monotonic() + COLGEN_SHARE * span)
        bound = math.ceil(cg.lower - 1e-6) if pricing.exact and cg.lower > -math.inf else None
        self.note(f"colgen: lower bound {bound}; {cg.rounds} rounds, LP {lp + cg.offset:.1f}")
        self.bound = bound
        # dives, until the roster meets the bound, the share of ``dive_end`` is used or four dives
        # in a row found nothing better (the columns of the earlier dives stay); the full model (or
        # LNS) polishes the best. Cell dives leave the LP more freedom than column dives (60 s, quiet
        # machine: Instance12 4 040 optimal in 39 s, 4 040, 4 042 against 4 149–4 455; Instance19
        # 4 069–6 130 against 5 196; Instance17 5 751–5 753 with 15 rounds a step, 5 851–5 955
        # with 5, against 5 746); from the third dive on, noise on the choice. Column dives, when
        # chosen, fix fewer people per step and re-price longer each time
        lp_value = lp + cg.offset
        full_next = pricing.heuristic_only and self.full_fits
        if pricing.heuristic_only and not self.full_fits:
            lp = cg.generate(stop_at=self.t0 + GUIDE_END * self.time_limit)
            self.note(f"colgen: {cg.rounds} rounds, LP {lp + cg.offset:.1f}, then guided sweeps")
            for i in range(GUIDE_TRIES):
                if i and self.left() < 0.25 * self.time_limit:
                    break  # the LNS after it needs the rest (a rounding of Instance13 takes ~5 s)
                new = self.guided(cg)
                nobj, nviol = self.evaluate(new)
                self.note(f"colgen: guided sweeps: {nobj}, {len(nviol)} hard violations")
                if not nviol and nobj < obj:
                    cur, obj = new, nobj
                    self.record(cur, nobj, nviol)
            if SUPPORT_SHARE > 0:
                cur = self.support_model(cg.support(), cur, SUPPORT_SHARE)
            return cur

        def dive_stop() -> float:
            return self.t0 + dive_end(bound is not None, full_next, obj, lp_value) * self.time_limit

        step, rounds, dive, stale = max(1, c.S // 8), 10, 0, 0
        cell_rounds = CELL_ROUNDS_HEURISTIC if pricing.heuristic_only else CELL_ROUNDS
        share = CELL_SHARE if bound is not None or pricing.heuristic_only else CELL_SHARE_UNPROVED
        while time.monotonic() < (stop := dive_stop()) and (bound is None or obj > bound) and stale < 4:
            cg.unfix_all()
            noise = 0.0 if dive < 2 else 0.3
            if DIVE == "cell":
                choice = cg.cell_dive(
                    stop_at=stop, max_rounds=cell_rounds, share=share, noise=noise, seed=self.seed + dive
                )
            else:
                choice = cg.dive(
                    stop_at=stop, max_rounds=rounds, step=step, noise=noise, seed=self.seed + dive
                )
                step, rounds = max(1, step // 2), min(rounds * 2, 100)
            dive += 1
            new = cg.roster(choice)
            if -1 in choice:
                new = self._complete(cg, choice, pricing)
            nobj, nviol = self.evaluate(new)
            self.note(f"colgen: {DIVE} dive {dive}: {nobj}, {len(nviol)} hard violations")
            stale += 1
            if not nviol and nobj < obj:
                cur, obj, stale = new, nobj, 0
                self.record(cur, nobj, nviol)
        cg.unfix_all()
        if full_next and obj <= SUPPORT_NEAR * lp_value:
            self.support = cg.support()
        if bound is not None and obj <= bound:
            self.optimal = True
            self.note("colgen: the roster meets the lower bound")
        return cur

    def guided(self, cg: ColumnGeneration) -> list[list[int]]:
        """Round the LP by sweeps pulled towards it: from each person's largest column, best
        responses against the cover with every cell's cost lowered by β × (its LP value − the LP
        value of the day off), β falling along ``GUIDE_BETAS`` to 0 (plain sweeps, a local optimum
        at the end). Where dives are slow — Instance13, 120 people, whose dives run out of time
        with most of them unfixed — a rounding takes about 5 s, and column generation gets the
        dives' time: 60 s, 2 workers, seeds 0–5, mean 2 873 against 3 048 with dives (one rounding
        instead of three: 2 922 against 2 809 on seeds 0–3). With CP-SAT's full model next
        (Instance15, 19) the dives stay (three seeds: Instance15 4 130 with dives against 4 282,
        Instance19 4 385 against 4 413)."""
        pull = cg.cell_values()
        cur = cg.roster(cg.largest())
        for beta in GUIDE_BETAS:
            cur = self.sweeps(cur, 1.0, max_sweeps=3, quiet=True, pull=beta * pull if beta else None)
        return cur

    def support_model(self, support: np.ndarray, cur: list[list[int]], share: float) -> list[list[int]]:
        """CP-SAT's full model with every cell closed that no column of the LP's support works
        (``support``, staff × days × shifts; ``cur``'s cells stay open), its own neighbourhood
        search from ``cur`` as the hint, for ``share`` of the time left; the better roster. With
        less than ``SUPPORT_LEFT`` of the time left, ``cur`` as it is.

        Instance13 (120 people, the full model too big): about 6 500 of its 60 480 cells stay open,
        and from the guided rounding at half the time the search gains 1 000–1 600 where our LNS
        windows gained 500–900 (60 s, 2 workers, seeds 0–3: 2 148, 2 425, 2 211, 2 049 against
        3 097, 2 714, 2 585, 2 700; three guided roundings before it instead of one left the search
        too little time). Its own search, not the complete one: 2 702 and 2 567 with seeds 0–1."""
        if self.left() <= SUPPORT_LEFT * self.time_limit:
            return cur
        c = self.c
        b = Builder(c, cur, list(range(c.S)), elastic=self.elastic)
        closed = 0
        for s in range(c.S):
            for d in range(c.H):
                for t in np.flatnonzero(~support[s, d]):
                    if cur[s][d] != t:
                        b.m.add(b.X(s, d, int(t)) == 0)
                        closed += 1
        solver = _solver(share * self.left(), self.workers, self.seed)
        solver.parameters.use_lns_only = True
        st = solver.solve(b.m)
        self.note(f"support model: {closed} of {support.size} cells closed, {solver.status_name(st)}")
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return cur
        new = b.read(solver, cur)
        obj, (nobj, nviol) = self.evaluate(cur)[0], self.evaluate(new)
        self.note(f"support model: {nobj}, {len(nviol)} hard violations (from {obj})")
        if nviol or nobj >= obj:
            return cur
        self.record(new, nobj, nviol)
        return new

    def _complete(self, cg: ColumnGeneration, choice: list[int], pricing: Pricing) -> list[list[int]]:
        """The roster of a dive that ran out of time: the people it did not reach take their
        largest LP column, or best responses to the others in turn, whichever roster is cheaper
        (Instance12, 47 of 60 left: columns 11 311, best responses 5 580; Instance13 when it
        dived, 104 of 120 left: 22 481 and 9 067 — best responses from all-off rows had given
        22 486)."""
        c = self.c
        left = [s for s, k in enumerate(choice) if k < 0]
        largest = cg.largest()
        by_columns = cg.roster([k if k >= 0 else largest[s] for s, k in enumerate(choice)])
        by_dp = [row[:] for row in by_columns]
        marg = _Marginal(c, by_dp)
        for s in left:
            marg.remove(s, by_dp[s])
            row = pricing(s, marg.cost(s))
            if row is not None:
                by_dp[s] = row
            marg.add(s, by_dp[s])
        a, b = self.evaluate(by_columns), self.evaluate(by_dp)
        self.note(f"colgen: dive out of time, {len(left)} people completed: columns {a[0]}, DP {b[0]}")
        return by_columns if (len(a[1]), a[0]) <= (len(b[1]), b[0]) else by_dp

    def _sweep_due(self, its: int, last: float, total: float, t_lns: float, gained: bool) -> bool:
        """Whether a DP sweep runs before the next neighbourhood: after a gain, while the sweeps
        have had at most ``SWEEP_SHARE`` of the LNS's time (``SWEEP_SHARE_BIG`` on the largest
        rosters; a sweep of Instance20 takes 0.1 s, a window 0.3–2 s), or (``SWEEP_SHARE`` 0)
        every eight neighbourhoods while one sweep is under a fifth of the time left. With the
        drawn windows (``_window_start``), 60 s, 2 workers, seeds 0–2, means: Instance20 8 357
        against 8 622, Instance23 38 147 against 39 017, Instance21, 22 and 24 within 1 % (28 989,
        65 864, 85 039 against 29 165, 65 963, 84 997)."""
        if SWEEP_SHARE > 0:
            share = SWEEP_SHARE_BIG if self.big else SWEEP_SHARE
            return gained and total <= share * (time.monotonic() - t_lns)
        return its >= 8 and last < 0.2 * self.left()

    def _day_penalty(self, cur: list[list[int]]) -> np.ndarray:
        """Each day's share of the objective: its cover's under/over cost and its requests not met."""
        c = self.c
        marg = _Marginal(c, cur)
        pen = np.where(marg.cnt < marg.req, (marg.req - marg.cnt) * marg.wu, (marg.cnt - marg.req) * marg.wo)
        day = pen.sum(axis=1)
        for s in range(c.S):
            row = cur[s]
            for d, items in c.req[s].items():
                t = row[d]
                for rt, on, w in items:
                    hit = t >= 0 if rt is None else t == rt
                    if hit != on:
                        day[d] += w
        return day

    def _window_start(self, day_penalty: np.ndarray | None, w: int, stale: np.ndarray) -> int:
        """The first day of a window of ``w`` days: uniformly, or (``GUIDED``) drawn by the penalty
        the window holds (``day_penalty``, the roster's ``_day_penalty``) on days not already
        solved to optimality without a gain."""
        H = self.c.H
        if not GUIDED or w >= H or day_penalty is None:
            return self.rng.randrange(0, H - w + 1)
        day = np.where(stale, 0.0, day_penalty)
        sums = np.convolve(day, np.ones(w), mode="valid")  # H - w + 1 window sums
        weights = sums + 0.05 * max(1.0, float(sums.mean()))
        return self.rng.choices(range(H - w + 1), weights=weights.tolist())[0]

    def lns(self, cur: list[list[int]], dp_ok: bool = False) -> list[list[int]]:
        """Our large-neighbourhood search (``_Lns``) from ``cur`` until the time is out; with
        ``dp_ok``, DP sweeps between the neighbourhoods."""
        return _Lns(self, cur, dp_ok).run()


class _Lns:
    """One run of our large-neighbourhood search (see the module's docstring and docs/roster.md).

    With two workers or more, that many neighbourhoods are solved at once, one CP-SAT worker each,
    on days (or people) apart (``_Hood.overlaps``): a second worker inside one neighbourhood gained
    nothing (Instance20, seeds 0, 1: 8 668 and 8 199 with one, 8 719 and 8 579 with two), a second
    neighbourhood doubles their number. A result whose roster changed meanwhile is laid onto the
    roster as it is now and kept when the checker finds it no worse and without a broken rule. A DP
    sweep runs beside them when due (``_Run._sweep_due``)."""

    def __init__(self, run: _Run, cur: list[list[int]], dp_ok: bool) -> None:
        self.r = run
        c = run.c
        S, H, T = c.S, c.H, c.T
        self.cur = cur
        self.dp_ok = dp_ok
        # long horizons: a person's whole row is too hard for CP-SAT, windows of days work
        self.all_kinds = ["people", "window", "block"] if H < DP_MIN_DAYS else ["window", "block"]
        if H >= DP_MIN_DAYS and WEEKENDS and len(c.weekend_days) >= 2:
            self.all_kinds.append("weekends")
        self.violations = run.evaluate(cur)[1]
        self.kinds = ["block"] if self.violations else self.all_kinds
        self.t0 = time.monotonic()
        self.sweep_cost = 0.0  # the last sweep's seconds
        self.sweep_total = 0.0  # all sweeps' seconds
        self.last_sweep_it = 0
        self.gained_since_sweep = False
        self.stale = np.zeros(H, dtype=bool)  # days of windows solved to optimality without a gain
        self.day_penalty: np.ndarray | None = None  # ``_day_penalty`` of ``cur``, None once it changes
        cells = float(os.environ.get("ROSTER_LNS_CELLS", "2500"))  # free cells of a first neighbourhood
        self.size = {"people": max(2.0, min(S, cells / (H * T))), "window": max(3.0, min(H, cells / (S * T)))}
        self.block_cells = cells
        self.weekend_cells = WEEKEND_CELLS
        self.score = dict.fromkeys(self.all_kinds, 1.0)
        self.it = 0
        self.improved = 0
        self.laid = self.refused = 0  # results laid onto a newer roster, and refused there
        self.lanes = max(1, run.workers) if LNS_PARALLEL else 1
        self.version = 0  # the number of changes made to ``cur``
        self.running: dict[Future[Any], _Hood] = {}
        self.now: tuple[int, int, list[Violation]] | None = None  # version, objective, violations
        self.slide_w = max(2, min(SLIDE_MAX_DAYS, round(SLIDE_CELLS / (S * T))))  # the passes' windows
        self.sliding = SLIDE and not self.violations and self._slide_fits()
        self.queue: list[int] = []  # first days of the windows the pass under way has still to solve
        self.passes = 0
        self.pass_start = 0.0
        self.pass_gain = 0
        if self.sliding:
            self._new_pass()

    def run(self) -> list[list[int]]:
        r = self.r
        pool = ThreadPoolExecutor(max_workers=self.lanes)
        try:
            while self.running or r.left() > LNS_LAST:
                # one neighbourhood at a time while a rule is broken
                while len(self.running) < (1 if self.violations else self.lanes) and r.left() > LNS_LAST:
                    h = self._launch()
                    self.running[pool.submit(h.solver.solve, h.b.m)] = h
                if not self.running:
                    continue
                done, _ = wait(self.running, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._finish(self.running.pop(fut), fut.result())
                if r.optimal:
                    break
        finally:
            pool.shutdown(wait=True)
        r.note(
            f"lns: {self.it} neighbourhoods, gained {self.improved}; "
            f"{self.laid} laid on a newer roster, {self.refused} not"
        )
        return self.cur

    def _sweep(self) -> None:
        """A DP sweep when one is due, beside the neighbourhoods running (a core each)."""
        r = self.r
        due = r._sweep_due(
            self.it - self.last_sweep_it, self.sweep_cost, self.sweep_total, self.t0, self.gained_since_sweep
        )
        if not (self.dp_ok and due):
            return
        t_s = time.monotonic()
        self.cur = r.sweeps(self.cur, 0.2, max_sweeps=1)  # in place: ``swept`` says what changed
        self.sweep_cost = time.monotonic() - t_s
        self.sweep_total += self.sweep_cost
        self.last_sweep_it = self.it + 1
        self.gained_since_sweep = False
        if r.swept:
            self.stale[:] = False
            self.day_penalty = None
            self.version += 1

    def _new_pass(self) -> None:
        """A pass over the horizon: windows of ``slide_w`` days side by side (every other pass
        shifted by half a window), the two halves of the horizon interleaved so that two lanes
        work apart."""
        H, w = self.r.c.H, self.slide_w
        self.passes += 1
        starts = list(range((1 - self.passes % 2) * (w // 2), H - w + 1, w))
        half = (len(starts) + 1) // 2
        self.queue = []
        for i, lo in enumerate(starts[:half]):
            self.queue += [lo, *starts[half + i : half + i + 1]]
        self.pass_start = time.monotonic()
        self.pass_gain = 0

    def _slide_fits(self) -> bool:
        """Whether passes of ``slide_w``-day windows go on: at most ``SLIDE_MAX_DAYS``, and four
        windows or more in the horizon."""
        return self.slide_w <= SLIDE_MAX_DAYS and 4 * self.slide_w <= self.r.c.H

    def _evaluated(self) -> tuple[int, list[Violation]]:
        """The checker's objective and violations of ``cur``, computed once per version of it."""
        if self.now is None or self.now[0] != self.version:
            self.now = (self.version, *self.r.evaluate(self.cur))
        return self.now[1], self.now[2]

    def _next_window(self) -> list[int] | None:
        """The days of the pass's next window apart from those running, None when there is none.
        A pass that gained less than ``SLIDE_SMALL`` of the objective makes the next one a day
        wider; past ``SLIDE_MAX_DAYS`` the passes end and the drawn neighbourhoods go on."""
        r = self.r
        if not self.queue:
            r.note(
                f"lns: a pass of {self.slide_w}-day windows gained {self.pass_gain} "
                f"in {time.monotonic() - self.pass_start:.1f}s"
            )
            if self.pass_gain < SLIDE_SMALL * self._evaluated()[0]:
                self.slide_w += 1
            self.sliding = self._slide_fits()
            if not self.sliding:
                return None
            self._new_pass()
        everybody = list(range(r.c.S))
        for i, lo in enumerate(self.queue):
            days = list(range(lo, lo + self.slide_w))
            if not any(h.overlaps(everybody, days) for h in self.running.values()):
                del self.queue[i]
                return days
        return None

    def _launch(self) -> _Hood:
        """The next neighbourhood: a sweep first when due, then a kind drawn by its recent gains,
        its people and days drawn apart from those running (``LNS_DRAWS`` tries), its model."""
        r = self.r
        self._sweep()
        self.it += 1
        slide = self._next_window() if self.sliding else None
        if slide is not None:
            kind, staff, days = "slide", list(range(r.c.S)), slide
        else:
            kind = r.rng.choices(self.kinds, weights=[self.score[k] for k in self.kinds])[0]
            if kind != "people" and GUIDED and self.day_penalty is None:
                self.day_penalty = r._day_penalty(self.cur)
            for _ in range(LNS_DRAWS):
                staff, days = self._draw(kind)
                if not any(h.overlaps(staff, days) for h in self.running.values()):
                    break
        b = Builder(r.c, self.cur, staff, days=days, elastic=r.elastic)
        limit = min(r.left(), SLIDE_LIMIT if kind == "slide" else r.sub_limit)
        solver = _solver(limit, 1 if self.lanes > 1 else r.workers, r.seed + self.it)
        snap = [row[:] for row in self.cur] if self.lanes > 1 else self.cur  # sweeps change ``cur`` in place
        return _Hood(kind, staff, b.days, b, b.hint_objective(), limit, solver, self.version, snap)

    def _draw(self, kind: str) -> tuple[list[int], list[int]]:
        """A neighbourhood of ``kind``: its people and its days."""
        r = self.r
        c = r.c
        S, H, T = c.S, c.H, c.T
        if kind == "people":
            k = max(1, min(S, int(self.size["people"])))
            return r.rng.sample(range(S), k), list(range(H))
        if kind == "window":
            w = max(2, min(H, int(self.size["window"])))
            lo = r._window_start(self.day_penalty, w, self.stale)
            return list(range(S)), list(range(lo, lo + w))
        if kind == "weekends":
            return self._draw_weekends()
        w = max(7, min(H, int(math.sqrt(self.block_cells / T) * 2)))
        k = max(2, min(S, int(self.block_cells / (w * T))))
        lo = r._window_start(self.day_penalty, w, self.stale)
        staff = r.rng.sample(range(S), k)
        if self.violations and r.rng.random() < 0.7:
            # aim at a broken hard rule: its person and days inside the block
            v = r.rng.choice(self.violations)
            if v.staff is not None and v.day is not None:
                lo = max(0, min(H - w, v.day - w // 2))
                si = c.sidx[v.staff]
                if si not in staff:
                    staff[0] = si
        return staff, list(range(lo, lo + w))

    def _draw_weekends(self) -> tuple[list[int], list[int]]:
        """``WEEKEND_COUNT`` weekends, each with its Friday and Monday: the first drawn by the penalty
        its days hold, the others uniformly; as many people as ``weekend_cells`` allows. A person's
        maximum of worked weekends makes weekends rigid: giving someone a weekend means taking
        another from them, often months away, which no window of adjacent days can do."""
        r, c = self.r, self.r.c
        ends = sorted(c.weekend_days)
        k = max(2, min(len(ends), WEEKEND_COUNT))
        if GUIDED and self.day_penalty is not None:
            weights = [float(sum(self.day_penalty[d] for d in c.weekend_days[e])) + 1.0 for e in ends]
            first = r.rng.choices(ends, weights=weights)[0]
        else:
            first = r.rng.choice(ends)
        chosen = [first, *r.rng.sample([e for e in ends if e != first], k - 1)]
        near = {d + g for e in chosen for d in c.weekend_days[e] for g in (-1, 0, 1)}
        days = sorted(near & set(range(c.H)))
        n = max(2, min(c.S, int(self.weekend_cells / (len(days) * c.T))))
        staff = list(range(c.S)) if n >= c.S else r.rng.sample(range(c.S), n)
        return staff, days

    def _result(self, h: _Hood) -> tuple[list[list[int]], int, bool]:
        """The roster after ``h``'s solution, its gain and whether it changed ``cur``; when ``cur``
        changed while ``h`` ran, ``h``'s cells on today's roster, if the checker finds it no worse."""
        new = h.b.read(h.solver, h.cur)
        gain = h.before - round(h.solver.objective_value)
        if not any(new[s][h.lo : h.hi] != h.cur[s][h.lo : h.hi] for s in h.staff):
            return self.cur, 0, False  # not ``new``: it is ``h``'s copy of ``cur``, maybe an older one
        if h.version == self.version:
            return new, gain, True
        lay = [row[:] for row in self.cur]
        cells = [(s, d) for s, d in h.b.x if new[s][d] != self.cur[s][d]]
        for s, d in cells:
            lay[s][d] = new[s][d]
        before, bviol = self._evaluated()
        after, aviol = self._laid(lay, cells) or self.r.evaluate(lay)
        if len(aviol) <= len(bviol) and after <= before:
            self.laid += 1
            self.now = (self.version + 1, after, aviol)
            return lay, before - after, True
        self.refused += 1
        return self.cur, 0, False

    def _laid(self, lay: list[list[int]], cells: list[tuple[int, int]]) -> tuple[int, list[Violation]] | None:
        """The checker's objective and violations of ``lay``, ``cur`` with ``cells`` changed, from
        the rows and days changed: each person's share (``_Run.person_share``) and each day's cover
        (``check.cover_share``) differ, the rest is ``cur``'s. None where only the whole check tells:
        ``cur`` breaks a rule, or a fairness rule ties everybody's rows. A check of a year of 50
        people takes 22 ms; Instance22 laid 221 results in a minute."""
        r = self.r
        before, bviol = self._evaluated()
        if bviol or any(r.c.enabled(rule) for rule in FAIRNESS_KEYS):
            return None
        people = sorted({s for s, _ in cells})
        days = {d for _, d in cells}
        after = before
        viol: list[Violation] = []
        for s in people:
            old, _ = r.person_share(s, self.cur[s])
            obj, broken = r.person_share(s, lay[s])
            after += obj - old
            viol += broken
        old, _ = cover_share(r.p, r.c.to_assignment(self.cur), days)
        obj, broken = cover_share(r.p, r.c.to_assignment(lay), days)
        return after + obj - old, viol + broken

    def _finish(self, h: _Hood, st: Any) -> None:
        """Take ``h``'s result: keep it when no worse, score its kind, adapt its size."""
        r, S = self.r, self.r.c.S
        solver, kind = h.solver, h.kind
        gain = 0
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) and h.before >= round(solver.objective_value):
            self.cur, gain, changed = self._result(h)
            if changed:
                self.version += 1
                self.day_penalty = None
            if gain > 0:
                self.gained_since_sweep = True
                self.stale[h.days] = False
            elif st == cp_model.OPTIMAL and len(h.staff) == S and kind != "weekends":
                self.stale[h.days] = True
            if r.first_feasible is None and gain > 0:
                obj, self.violations = r.evaluate(self.cur)
                if not self.violations:
                    r.record(self.cur, obj, self.violations)
                    self.kinds = self.all_kinds
        if kind == "slide":
            self.pass_gain += gain
        elif gain > 0:
            self.score[kind] = 0.7 * self.score[kind] + 0.3 * (
                1 + min(5.0, gain / max(1.0, solver.wall_time))
            )
        else:
            self.score[kind] = max(0.2, 0.9 * self.score[kind])
        if gain > 0:
            self.improved += gain
            if r.on_solution is not None:
                obj, viol = r.evaluate(self.cur)
                r.record(self.cur, obj, viol)
        if r.verbose and kind != "slide":
            r.note(
                f"{kind} staff={len(h.staff)} days={h.lo}-{h.hi} {solver.status_name(st)} "
                f"{solver.wall_time:.2f}s gain {gain}"
            )
        self._adapt(h, st)

    def _adapt(self, h: _Hood, st: Any) -> None:
        """Solved to optimality in under half its limit: the kind's size grows 15 %, else shrinks."""
        r, c = self.r, self.r.c
        kind = h.kind
        if kind == "slide":
            return
        grow = st == cp_model.OPTIMAL and h.solver.wall_time < 0.5 * h.limit
        if kind == "block":
            self.block_cells *= 1.15 if grow else 0.85
            self.block_cells = max(200.0, min(self.block_cells, c.S * c.H * c.T))
        elif kind == "weekends":
            self.weekend_cells *= 1.15 if grow else 0.85
            self.weekend_cells = max(200.0, min(self.weekend_cells, c.S * c.H * c.T))
        else:
            top = c.S if kind == "people" else c.H
            self.size[kind] *= 1.15 if grow else 0.87
            self.size[kind] = max(1.0 if kind == "people" else 3.0, min(self.size[kind], top))
        if kind == "people" and len(h.staff) >= c.S and grow:
            r.optimal = True  # the whole problem solved to optimality
            r.note("lns: the whole problem solved to optimality")
        if r.verbose and self.it % 20 == 0:
            r.note(
                f"lns it {self.it}: sizes {self.size} block {self.block_cells:.0f} scores {self.score} "
                f"gained {self.improved}"
            )


def solve(
    problem: Problem,
    *,
    time_limit: float = 60.0,
    workers: int = 2,
    seed: int = 0,
    on_solution: Callable[[dict[str, list[str | None]], int, int], None] | None = None,
    strategy: str = "auto",
    verbose: bool = False,
) -> Solution:
    """Solve ``problem`` within ``time_limit`` seconds.

    ``strategy``: auto | colgen | full | lns | construct.

    ``on_solution(assignment, objective, hard_violation_count)`` is called for each improvement.
    """
    run = _Run(problem, time_limit, workers, seed, on_solution, verbose)
    c = run.c
    cur = run.start()
    dp_rules = not any(c.enabled(r) for r in DP_UNSUPPORTED)
    pricing = None
    if strategy == "auto" and dp_rules and colgen.applies(c) and c.S > 1:
        pricing = run.pricing()
        if pricing.round_cells(colgen.ROUND_CELLS) <= colgen.ROUND_CELLS:
            strategy = "colgen"
        elif c.H <= colgen.HEURISTIC_DAYS:
            # exact pricing rounds are too slow here, the construction DP's rows are not: column
            # generation with them still beats construction, sweeps and CP-SAT (60 s, quiet machine:
            # Instance13 4 165 against 4 644, Instance15 4 785 against 5 654, Instance19 4 620
            # against 5 869); on half a year and more it does not (Instance20 9 723 against 8 366)
            pricing.heuristic()
            run.count_rows = True
            strategy = "colgen"
    if strategy == "colgen":
        cur = run.colgen(cur, pricing)
        strategy = "auto"  # then the full model (or LNS) from the dive's roster as the hint
    if run.first_feasible is None:
        cur = run.construct(cur)
    obj, viol = run.evaluate(cur)
    run.record(cur, obj, viol)
    run.note(f"construction: objective {obj}, {len(viol)} hard violations")
    for v in viol:
        run.elastic.add(v.rule)
    cells = c.S * c.H * c.T
    if strategy == "auto":
        strategy = "full" if run.full_fits else "lns"
    dp_ok = not any(c.enabled(r) for r in DP_UNSUPPORTED) and not viol
    if run.optimal:
        pass
    elif strategy == "full" and run.left() > 0.1:
        if dp_ok and cells > FULL_CELLS:
            cur = run.restarts(cur, 0.15)
        if run.support is not None:
            cur = run.support_model(run.support, cur, SUPPORT_SHARE_FULL)
        cur = run.full(cur)
    elif strategy == "lns":
        if dp_ok:
            cur = run.before_lns(cur)
        cur = run.lns(cur, dp_ok=dp_ok)
    obj, viol, breakdown = check(problem, c.to_assignment(cur))
    if not viol and run.first_feasible is None:
        run.first_feasible = time.monotonic() - run.t0
    if viol:
        status = "infeasible"
    elif run.optimal:
        status = "optimal"
    else:
        status = "feasible"
    return Solution(
        assignment=c.to_assignment(cur),
        objective=obj,
        breakdown=breakdown,
        hard_violations=viol,
        status=status,
        first_feasible_s=run.first_feasible,
        seconds=time.monotonic() - run.t0,
        explanation=explain(problem, viol, proven=run.proven_infeasible),
        log=run.log,
    )


RULE_WORDS = {
    "days_off": "a day off is worked",
    "forbidden_follow": "a forbidden succession of shifts",
    "max_shifts": "more shifts of a type than allowed",
    "max_minutes": "more working minutes than allowed",
    "min_minutes": "fewer working minutes than required",
    "max_consecutive": "too many working days in a row",
    "min_consecutive": "a working stretch shorter than the minimum",
    "min_consecutive_off": "a stretch of days off shorter than the minimum",
    "max_weekends": "more weekends worked than allowed",
    "fixed": "a locked cell is changed",
    "cover_minimum": "fewer staff than the minimum cover",
    "max_consecutive_nights": "too many nights in a row",
    "rest_after_nights": "too few days off after a night block",
    "min_rest_minutes": "too little rest between two shifts",
    "weekly_minutes": "weekly working hours above the limit",
    "weekly_rest_day": "no rest day in a week",
    "no_night": "a night shift for someone who may not work nights",
    "keep_previous": "a change to the previous roster",
    "fair_nights": "unfair spread of nights",
    "fair_weekends": "unfair spread of weekends",
    "fair_holidays": "unfair spread of holidays",
}


def explain(problem: Problem, violations: list[Violation], *, proven: bool = False) -> list[str]:
    """The hard rules that could not all hold, in words: rule, people, days."""
    if not violations:
        return []
    groups: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    for v in violations:
        groups[(v.rule, v.staff)].update(v.days or ((v.day,) if v.day is not None else ()))
    out = []
    if proven:
        out.append("The hard rules cannot all hold; the best roster found breaks these:")
    else:
        out.append("No roster keeping every hard rule was found; the best roster found breaks these:")
    for (rule, staff), days in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        who = f"{staff}" if staff else "the ward"
        when = f" on days {_ranges(sorted(days))}" if days else ""
        out.append(f"{rule}: {RULE_WORDS.get(rule, rule)} — {who}{when}")
    return out


def _ranges(days: list[int]) -> str:
    parts = []
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] == days[j] + 1:
            j += 1
        parts.append(str(days[i]) if i == j else f"{days[i]}–{days[j]}")
        i = j + 1
    return ", ".join(parts)
