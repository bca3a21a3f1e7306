"""The CP-SAT model of a (sub)problem: some staff free on some days, the rest constant.

``Compiled`` turns a ``Problem`` into index form once. ``Builder`` builds the model for
``free_staff`` × days ``[lo, hi)`` (or any set of ``days``); every other cell takes its value from
``cur`` (the current roster, ``cur[s][d]`` = shift index or -1 = off), so the same code builds the
full model (all staff, all days), the one-person models of the construction and the neighbourhoods
of the large-neighbourhood search. Only the constraints and objective terms that touch a free cell
are built. Every hard rule can be made elastic (a slack variable with ``HARD_WEIGHT``), which is how
an infeasible problem is explained; every variable gets a hint from ``cur`` (slacks and auxiliaries
included) so ``hint_objective`` is the objective of the current roster on this model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from .problem import FAIRNESS_KEYS, Problem

HARD_WEIGHT = 100_000


class Compiled:
    def __init__(self, p: Problem) -> None:
        self.p = p
        self.S = len(p.staff)
        self.T = len(p.shifts)
        self.H = p.horizon
        self.sidx = {st.id: i for i, st in enumerate(p.staff)}
        self.tidx = {sh.id: i for i, sh in enumerate(p.shifts)}
        self.length = [sh.minutes for sh in p.shifts]
        self.night = [t for t, sh in enumerate(p.shifts) if sh.kind == "night"]
        self.on = {name: p.rule(name).enabled for name in set(p.rules) | {"cover_minimum"}}
        # forbidden pairs per rule and gap (1 = next day, 2 = the day after): t1 -> set of t2;
        # ``forbid`` is their union per gap (the DP's view)
        self.forbid_by_rule: dict[tuple[str, int], dict[int, set[int]]] = {}
        if self.enabled("forbidden_follow"):
            table: dict[int, set[int]] = {}
            for a, bs in p.forbidden_follow.items():
                for b in bs:
                    if a in self.tidx and b in self.tidx:
                        table.setdefault(self.tidx[a], set()).add(self.tidx[b])
            self.forbid_by_rule[("forbidden_follow", 1)] = table
        if self.enabled("min_rest_minutes"):
            need = p.rule("min_rest_minutes").value
            for g in (1, 2):
                table = {}
                for t1, sh1 in enumerate(p.shifts):
                    end = sh1.start_minute + sh1.minutes
                    for t2, sh2 in enumerate(p.shifts):
                        if g * 1440 + sh2.start_minute - end < need:
                            table.setdefault(t1, set()).add(t2)
                self.forbid_by_rule[("min_rest_minutes", g)] = table
        self.forbid: dict[int, dict[int, set[int]]] = {1: {}, 2: {}}
        for (_, g), table in self.forbid_by_rule.items():
            for t1, t2s in table.items():
                self.forbid[g].setdefault(t1, set()).update(t2s)
        self.days_off = [{d for d in p.days_off.get(st.id, ()) if 0 <= d < self.H} for st in p.staff]
        self.fixed: list[dict[int, int]] = [{} for _ in p.staff]
        for (sid, d), sh in p.fixed.items():
            if sid in self.sidx and 0 <= d < self.H:
                self.fixed[self.sidx[sid]][d] = -1 if sh is None else self.tidx[sh]
        # requests: per staff, day -> list of (shift index or None, on, weight)
        self.req: list[dict[int, list[tuple[int | None, bool, int]]]] = [{} for _ in p.staff]
        for rq in p.requests:
            if rq.staff in self.sidx and 0 <= rq.day < self.H:
                t = None if rq.shift is None else self.tidx[rq.shift]
                self.req[self.sidx[rq.staff]].setdefault(rq.day, []).append((t, rq.on, rq.weight))
        self.cover_by_day: list[list[Any]] = [[] for _ in range(self.H)]
        for cv in p.cover:
            if 0 <= cv.day < self.H:
                self.cover_by_day[cv.day].append(cv)
        self.skills = [st.skills for st in p.staff]
        self.prev: list[list[int] | None] = [None] * self.S
        if p.previous is not None and self.enabled("keep_previous"):
            for i, st in enumerate(p.staff):
                row = p.previous.get(st.id)
                if row is not None:
                    self.prev[i] = [
                        -1 if (d >= len(row) or row[d] is None) else self.tidx[row[d]]  # type: ignore[index]
                        for d in range(self.H)
                    ]
        self.weekend_days: dict[int, list[int]] = {}
        for d in range(self.H):
            if p.is_weekend(d):
                self.weekend_days.setdefault(p.weekend_index(d), []).append(d)
        first = (7 - p.start_weekday) % 7
        self.weeks = [list(range(d, d + 7)) for d in range(first, self.H - 6, 7)]

    def enabled(self, name: str) -> bool:
        return self.on.get(name, self.p.rule(name).enabled)

    def to_assignment(self, cur: list[list[int]]) -> dict[str, list[str | None]]:
        ids = [sh.id for sh in self.p.shifts]
        return {st.id: [ids[t] if t >= 0 else None for t in cur[s]] for s, st in enumerate(self.p.staff)}

    def to_assignment_one(self, s: int, row: list[int]) -> dict[str, list[str | None]]:
        ids = [sh.id for sh in self.p.shifts]
        return {self.p.staff[s].id: [ids[t] if t >= 0 else None for t in row]}

    def from_assignment(self, a: dict[str, list[str | None]]) -> list[list[int]]:
        out = []
        for st in self.p.staff:
            row = a.get(st.id, [None] * self.H)
            out.append([-1 if x is None else self.tidx[x] for x in row])
        return out


Lit = Any  # a CP-SAT literal or a Python bool


@dataclass
class Slack:
    var: Any
    rule: str
    staff: int | None
    days: tuple[int, ...]


class Builder:
    def __init__(
        self,
        c: Compiled,
        cur: list[list[int]],
        free_staff: list[int],
        lo: int = 0,
        hi: int | None = None,
        elastic: set[str] | frozenset[str] = frozenset(),
        cover_scale: int = 1,
        days: list[int] | None = None,
    ) -> None:
        self.c = c
        self.p = c.p
        self.cur = cur
        self.free = sorted(free_staff)
        self.free_set = set(self.free)
        hi = c.H if hi is None else hi
        # the free days: ``lo``–``hi``, or ``days`` (sorted, not necessarily adjacent; lo–hi their hull)
        self.days = list(range(lo, hi)) if days is None else sorted(set(days))
        self.day_set = set(self.days)
        self.lo = self.days[0] if days else lo
        self.hi = self.days[-1] + 1 if days else hi
        self.elastic = elastic
        self.m = cp_model.CpModel()
        self.hint: dict[int, int] = {}
        self.obj: list[tuple[int, Any]] = []
        self.offset = 0
        self.slacks: list[Slack] = []
        self.x: dict[tuple[int, int], list[Any]] = {}
        self.w: dict[tuple[int, int], Any] = {}
        self.nv: dict[tuple[int, int], Any] = {}
        self.cover_scale = cover_scale
        self._aux: list[Any] = []
        self._build()

    # ---- variables and values -------------------------------------------------------------
    def _var(self, name: str, value: int, ub: int = 1) -> Any:
        v = self.m.new_bool_var(name) if ub == 1 else self.m.new_int_var(0, ub, name)
        self.hint[v.index] = value
        return v

    def is_free(self, s: int, d: int) -> bool:
        return s in self.free_set and d in self.day_set

    def X(self, s: int, d: int, t: int) -> Any:
        if self.is_free(s, d):
            return self.x[(s, d)][t]
        return int(self.cur[s][d] == t)

    def W(self, s: int, d: int) -> Any:
        if self.is_free(s, d):
            return self.w[(s, d)]
        return int(self.cur[s][d] >= 0)

    def N(self, s: int, d: int) -> Any:
        if not self.is_free(s, d):
            return int(self.cur[s][d] in self.c.night)
        if len(self.c.night) == 1:
            return self.x[(s, d)][self.c.night[0]]
        key = (s, d)
        if key not in self.nv:
            if not self.c.night:
                self.nv[key] = 0
            else:
                v = self._var("", int(self.cur[s][d] in self.c.night))
                self.m.add(v == sum(self.x[key][t] for t in self.c.night))
                self.nv[key] = v
        return self.nv[key]

    def hv(self, lit: Any) -> int:
        if isinstance(lit, int):
            return lit
        i = lit.index
        return self.hint[i] if i >= 0 else 1 - self.hint[-i - 1]

    # ---- rule helpers ---------------------------------------------------------------------
    def _weight(self, rule: str) -> tuple[bool, int]:
        """(hard, weight) of a rule in this model."""
        r = self.p.rule(rule)
        if r.hard and rule not in self.elastic:
            return True, 0
        return False, (HARD_WEIGHT if r.hard else r.weight)

    def le(
        self,
        terms: list[tuple[int, Any]],
        bound: int,
        rule: str,
        staff: int | None,
        days: tuple[int, ...],
        ub: int | None = None,
    ) -> None:
        """sum(coef * item) <= bound; items are variables or ints."""
        const = 0
        vt: list[tuple[int, Any]] = []
        for c, i in terms:
            if isinstance(i, int):
                const += c * i
            else:
                vt.append((c, i))
        if not vt:
            return
        b = bound - const
        top = sum(c for c, _ in vt if c > 0) if ub is None else ub - const
        if top <= b:
            return  # can never be broken
        expr = cp_model.LinearExpr.weighted_sum([i for _, i in vt], [c for c, _ in vt])
        hard, weight = self._weight(rule)
        if hard:
            self.m.add(expr <= b)
            return
        hval = sum(c * self.hv(i) for c, i in vt)
        sl = self._var("", max(0, hval - b), ub=top - b)
        self.m.add(expr - sl <= b)
        self.obj.append((weight, sl))
        self.slacks.append(Slack(sl, rule, staff, days))

    def clause(self, lits: list[Any], rule: str, staff: int | None, days: tuple[int, ...]) -> None:
        """At least one literal holds; ints are constants, negation via ``~``/Not()."""
        keep = []
        for lit in lits:
            if isinstance(lit, int):
                if lit:
                    return
            else:
                keep.append(lit)
        if not keep:
            return
        hard, weight = self._weight(rule)
        if hard:
            self.m.add_bool_or(keep)
            return
        sl = self._var("", int(not any(self.hv(lit) for lit in keep)))
        self.m.add_bool_or([*keep, sl])
        self.obj.append((weight, sl))
        self.slacks.append(Slack(sl, rule, staff, days))

    @staticmethod
    def neg(lit: Any) -> Any:
        return (1 - lit) if isinstance(lit, int) else ~lit

    def cost(self, weight: int, lit: Any) -> None:
        if isinstance(lit, int):
            return
        self.obj.append((weight, lit))

    # ---- the model ------------------------------------------------------------------------
    def _build(self) -> None:
        c = self.c
        T = c.T
        for s in self.free:
            for d in self.days:
                xs = [self._var("", int(self.cur[s][d] == t)) for t in range(T)]
                w = self._var("", int(self.cur[s][d] >= 0))
                self.m.add(sum(xs) == w)
                self.x[(s, d)] = xs
                self.w[(s, d)] = w
        ends = list(c.weekend_days.values())
        self._free_weekends = [days for days in ends if not self.day_set.isdisjoint(days)]
        self._fixed_weekends = [days for days in ends if self.day_set.isdisjoint(days)]
        for s in self.free:
            self._staff_rules(s)
        self._cover()
        self._fairness()
        # hints
        for v, val in self._hint_items():
            self.m.add_hint(v, val)
        self.m.minimize(sum(w * v for w, v in self.obj))

    def _hint_items(self) -> list[tuple[Any, int]]:
        out = []
        for xs in self.x.values():
            for v in xs:
                out.append((v, self.hint[v.index]))
        for w in self.w.values():
            out.append((w, self.hint[w.index]))
        for v in self.nv.values():
            if not isinstance(v, int):
                out.append((v, self.hint[v.index]))
        for v in self._aux:
            out.append((v, self.hint[v.index]))
        for sl in self.slacks:
            out.append((sl.var, self.hint[sl.var.index]))
        return out

    def hint_objective(self) -> int:
        return sum(w * self.hv(v) for w, v in self.obj)

    def _starts(self, first: int, end: int, back: int, before: int = 0) -> Iterable[int]:
        """The first days ``d`` in ``first``–``end`` of a rule over days ``d − before``…``d + back``
        that reach a free day; at the others the rule is all constants, nothing to build. On
        scattered days (weekends months apart) this skips the hull's days between them."""
        lo, hi = self.lo, self.hi
        if len(self.days) == hi - lo:  # adjacent days
            return range(max(first, lo - back), min(end, hi + before))
        near = {d for f in self.days for d in range(f - back, f + before + 1)}
        return sorted(d for d in near if first <= d < end)

    def _staff_rules(self, s: int) -> None:
        c, p = self.c, self.p
        H, T = c.H, c.T
        lo, hi = self.lo, self.hi
        st = p.staff[s]
        # cell rules
        for d in self.days:
            if c.enabled("days_off") and d in c.days_off[s]:
                self.le([(1, self.W(s, d))], 0, "days_off", s, (d,))
            if c.enabled("fixed") and d in c.fixed[s]:
                t = c.fixed[s][d]
                if t < 0:
                    self.le([(1, self.W(s, d))], 0, "fixed", s, (d,))
                else:
                    self.le([(-1, self.X(s, d, t))], -1, "fixed", s, (d,))
            if c.enabled("no_night") and st.no_night:
                for t in c.night:
                    self.le([(1, self.X(s, d, t))], 0, "no_night", s, (d,))
            for rt, on, wgt in c.req[s].get(d, ()):
                lit = self.W(s, d) if rt is None else self.X(s, d, rt)
                if on:
                    self.offset += wgt
                    self.cost(-wgt, lit)
                else:
                    self.cost(wgt, lit)
            prev = c.prev[s]
            if prev is not None and d not in p.replan_days:
                if prev[d] < 0:
                    self.le([(1, self.W(s, d))], 0, "keep_previous", s, (d,))
                else:
                    self.le([(-1, self.X(s, d, prev[d]))], -1, "keep_previous", s, (d,))
        # successions (gap 1 and 2), one constraint per first shift: x[d, t1] + Σ x[d+g, t2] <= 1
        for (rule, g), table in c.forbid_by_rule.items():
            for d in self._starts(0, H - g, g):
                for t1, t2s in table.items():
                    a = self.X(s, d, t1)
                    bs = [self.X(s, d + g, t2) for t2 in sorted(t2s)]
                    if isinstance(a, int) and all(isinstance(b, int) for b in bs):
                        continue
                    self.le([(1, a)] + [(1, b) for b in bs], 1, rule, s, (d, d + g))
        # totals over the horizon: the row's counts outside the free days (counted over the whole
        # row, less the free days: a window's model is built hundreds of times a minute)
        row = self.cur[s]
        outside = Counter(row)
        outside.subtract(row[d] for d in self.days)
        if c.enabled("max_shifts"):
            for sh_id, mx in st.max_shifts.items():
                ti = c.tidx.get(sh_id)
                if ti is None or mx >= H:
                    continue
                self.le(
                    [(1, outside[ti])] + [(1, self.X(s, d, ti)) for d in self.days], mx, "max_shifts", s, ()
                )
        outside_min = sum(c.length[t] * n for t, n in outside.items() if t >= 0)
        minutes = [(1, outside_min)] + [(c.length[t], self.X(s, d, t)) for d in self.days for t in range(T)]
        if c.enabled("max_minutes"):
            self.le(minutes, st.max_minutes, "max_minutes", s, ())
        if c.enabled("min_minutes") and st.min_minutes > 0:
            self.le([(-a, b) for a, b in minutes], -st.min_minutes, "min_minutes", s, ())
        # stretches
        if c.enabled("max_consecutive") and st.max_consecutive < H:
            k = st.max_consecutive
            for d in self._starts(0, H - k, k):
                self.le(
                    [(1, self.W(s, j)) for j in range(d, d + k + 1)],
                    k,
                    "max_consecutive",
                    s,
                    tuple(range(d, d + k + 1)),
                )
        for rule, k, work in (
            ("min_consecutive", st.min_consecutive, True),
            ("min_consecutive_off", st.min_consecutive_off, False),
        ):
            if not c.enabled(rule) or k <= 1:
                continue
            for ln in range(1, k):
                # stretch [a, a+ln-1] bounded by a-1 >= 0 and a+ln <= H-1
                for a in self._starts(1, H - ln, ln, before=1):
                    inner = [self.W(s, j) for j in range(a, a + ln)]
                    outer = [self.W(s, a - 1), self.W(s, a + ln)]
                    if work:
                        lits = outer + [self.neg(v) for v in inner]
                    else:
                        lits = [self.neg(v) for v in outer] + inner
                    self.clause(lits, rule, s, tuple(range(a, a + ln)))
        if c.enabled("max_weekends") and st.max_weekends < len(c.weekend_days):
            # weekends apart from the free days are constants: worked or not
            worked = sum(any(row[d] >= 0 for d in days) for days in self._fixed_weekends)
            self.le(
                [(1, worked)] + [(1, self._weekend(s, days)) for days in self._free_weekends],
                st.max_weekends,
                "max_weekends",
                s,
                (),
            )
        # product rules
        if c.enabled("max_consecutive_nights") and c.night:
            k = p.rule("max_consecutive_nights").value
            for d in self._starts(0, H - k, k):
                self.le(
                    [(1, self.X(s, j, t)) for j in range(d, d + k + 1) for t in c.night],
                    k,
                    "max_consecutive_nights",
                    s,
                    tuple(range(d, d + k + 1)),
                )
        if c.enabled("rest_after_nights") and c.night:
            k = p.rule("rest_after_nights").value
            for d in self._starts(0, H - 1, k + 1):
                for j in range(1, k + 1):
                    if d + j < H:
                        self.clause(
                            [self.neg(self.N(s, d)), self.N(s, d + 1), self.neg(self.W(s, d + j))],
                            "rest_after_nights",
                            s,
                            (d, d + j),
                        )
        if c.enabled("weekly_minutes"):
            lim = st.weekly_minutes if st.weekly_minutes is not None else p.rule("weekly_minutes").value
            for d in self._starts(0, H - 6, 6):
                self.le(
                    [(c.length[t], self.X(s, j, t)) for j in range(d, d + 7) for t in range(T)],
                    lim,
                    "weekly_minutes",
                    s,
                    tuple(range(d, d + 7)),
                )
        if c.enabled("weekly_rest_day"):
            for week in c.weeks:
                if week[-1] >= lo and week[0] < hi:
                    self.le([(1, self.W(s, j)) for j in week], 6, "weekly_rest_day", s, tuple(week))

    def _weekend(self, s: int, days: list[int]) -> Any:
        lits = [self.W(s, d) for d in days]
        if any(isinstance(v, int) and v for v in lits):
            return 1  # a worked weekend day outside the neighbourhood
        lits = [v for v in lits if not isinstance(v, int)]
        if not lits:
            return 0
        v = self._var("", int(any(self.hv(x) for x in lits)))
        self._aux.append(v)
        for x in lits:
            self.m.add_implication(x, v)
        self.m.add_bool_or(lits).only_enforce_if(v)
        return v

    def _cover(self) -> None:
        c = self.c
        if not any(c.cover_by_day[d] for d in self.days):
            return
        fixed_staff = [s for s in range(c.S) if s not in self.free_set]
        for d in self.days:
            if not c.cover_by_day[d]:
                continue
            # staff outside the neighbourhood: constants, counted per shift (and skill)
            const_by_t: dict[int, list[int]] = {}
            for s in fixed_staff:
                t = self.cur[s][d]
                if t >= 0:
                    const_by_t.setdefault(t, []).append(s)
            for cv in c.cover_by_day[d]:
                t = c.tidx[cv.shift]
                others = const_by_t.get(t, [])
                if cv.skill is None:
                    const = len(others)
                    vs = [self.x[(s, d)][t] for s in self.free]
                else:
                    const = sum(1 for s in others if cv.skill in c.skills[s])
                    vs = [self.x[(s, d)][t] for s in self.free if cv.skill in c.skills[s]]
                if not vs:
                    continue
                n_h = const + sum(self.hv(v) for v in vs)
                if cv.hard:  # sum(vs) + const >= requirement
                    self.le([(-1, v) for v in vs], const - cv.requirement, "cover_minimum", None, (d,))
                if cv.weight_over > 0:
                    over = self._var("", max(0, n_h - cv.requirement), ub=len(vs) + const)
                    self._aux.append(over)
                    self.m.add(over >= sum(vs) + const - cv.requirement)
                    self.obj.append((cv.weight_over * self.cover_scale, over))
                if not cv.hard and cv.weight_under > 0 and cv.requirement > const:
                    under = self._var("", max(0, cv.requirement - n_h), ub=cv.requirement - const)
                    self._aux.append(under)
                    self.m.add(under >= cv.requirement - const - sum(vs))
                    self.obj.append((cv.weight_under * self.cover_scale, under))

    def _count(self, s: int, key: str) -> list[tuple[int, Any]]:
        c, p = self.c, self.p
        if key == "nights":
            return [(1, self.X(s, d, t)) for d in range(c.H) for t in c.night]
        if key == "weekends":
            return [(1, self._weekend(s, days)) for days in c.weekend_days.values()]
        return [(1, self.W(s, d)) for d in sorted(p.holidays) if 0 <= d < c.H]

    def _fairness(self) -> None:
        c, p = self.c, self.p
        for rule, key in FAIRNESS_KEYS.items():
            if not c.enabled(rule) or not self.free:
                continue
            totals: list[tuple[int, Any, int]] = []  # (constant, expr or None, hint)
            for s, st in enumerate(p.staff):
                if rule == "fair_nights" and st.no_night:
                    continue
                base = p.history.get(st.id, {}).get(key, 0)
                terms = self._count(s, key)
                const = base + sum(a * b for a, b in terms if isinstance(b, int))
                vs = [(a, b) for a, b in terms if not isinstance(b, int)]
                expr = sum(a * b for a, b in vs) if vs else None
                totals.append((const, expr, const + sum(a * self.hv(b) for a, b in vs)))
            if not totals or all(e is None for _, e, _ in totals):
                continue
            hints = [h for _, _, h in totals]
            top = max(const + (c.H if e is not None else 0) for const, e, _ in totals)
            mx = self._var("", max(hints), ub=top)
            mn = self._var("", min(hints), ub=top)
            self._aux += [mx, mn]
            for const, e, _ in totals:
                self.m.add(mx >= (e + const if e is not None else const))
                self.m.add(mn <= (e + const if e is not None else const))
            self.le([(1, mx), (-1, mn)], p.rule(rule).value, rule, None, (), ub=top)

    # ---- reading a solution ---------------------------------------------------------------
    def read(
        self, solver: cp_model.CpSolver | cp_model.CpSolverSolutionCallback, cur: list[list[int]]
    ) -> list[list[int]]:
        new = [row[:] for row in cur]
        for (s, d), xs in self.x.items():
            t = -1
            for i, v in enumerate(xs):
                if solver.boolean_value(v):
                    t = i
                    break
            new[s][d] = t
        return new
