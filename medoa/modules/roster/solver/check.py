"""The independent checker: every rule of ``problem.py`` evaluated on an assignment, in plain Python.

It shares nothing with the CP-SAT model but the problem data, so the benchmark's objective and the
hard violations it reports do not trust the model. ``check`` returns ``(objective, violations,
breakdown)``: the objective is the sum of all soft penalties, ``breakdown`` maps a rule name to its
penalty (soft rules) and ``violations`` lists each broken hard rule occurrence (rule, staff, day).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import pairwise

from .problem import FAIRNESS_KEYS, Problem, Violation

Assignment = dict[str, list[str | None]]


class _Tally:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.violations: list[Violation] = []
        self.breakdown: dict[str, int] = defaultdict(int)

    def add(self, rule: str, amount: int, staff: str | None, days: Iterable[int], message: str) -> None:
        """One occurrence of a broken rule, ``amount`` units (excess) of it."""
        if amount <= 0:
            return
        r = self.problem.rule(rule)
        if r.hard:
            ds = tuple(days)
            self.violations.append(Violation(rule, staff, ds[0] if ds else None, message, ds))
        else:
            self.breakdown[rule] += r.weight * amount

    def cost(self, rule: str, amount: int) -> None:
        """An objective term whose weight comes with the data."""
        if amount:
            self.breakdown[rule] += amount


def _stretches(flags: list[bool], value: bool) -> list[tuple[int, int]]:
    """Maximal runs [a, b] (inclusive) where flags == value."""
    out = []
    start = None
    for d, f in enumerate([*flags, not value]):
        if f == value and start is None:
            start = d
        elif f != value and start is not None:
            out.append((start, d - 1))
            start = None
    return out


def check(problem: Problem, assignment: Assignment) -> tuple[int, list[Violation], dict[str, int]]:
    p = problem
    H = p.horizon
    T = _Tally(p)
    shifts = {s.id: s for s in p.shifts}
    night = {s.id for s in p.shifts if s.kind == "night"}
    en = {name: p.rule(name).enabled for name in p.rules}

    def on(name: str) -> bool:
        return en.get(name, p.rule(name).enabled)

    weekend_days = [(d, p.weekend_index(d)) for d in range(H) if p.is_weekend(d)]
    rows: dict[str, list[str | None]] = {}
    for st in p.staff:
        row = list(assignment.get(st.id, [None] * H))
        if len(row) != H:
            raise ValueError(f"row of {st.id} has {len(row)} days, expected {H}")
        for d, sh in enumerate(row):
            if sh is not None and sh not in shifts:
                raise ValueError(f"unknown shift {sh!r} for {st.id} on day {d}")
        rows[st.id] = row

    for st in p.staff:
        sid = st.id
        row = rows[sid]
        work = [sh is not None for sh in row]
        worked = _stretches(work, True)
        if on("days_off"):
            for d in sorted(p.days_off.get(sid, ())):
                if 0 <= d < H and work[d]:
                    T.add("days_off", 1, sid, [d], f"{sid} works {row[d]} on day {d}, a day off")
        if on("forbidden_follow"):
            for d, (a, b) in enumerate(pairwise(row)):
                if a is not None and b is not None and b in p.forbidden_follow.get(a, ()):
                    T.add(
                        "forbidden_follow",
                        1,
                        sid,
                        [d, d + 1],
                        f"{sid}: {b} on day {d + 1} may not follow {a}",
                    )
        if on("min_rest_minutes"):
            need = p.rule("min_rest_minutes").value
            for d in range(H):
                first = row[d]
                if first is None:
                    continue
                end = shifts[first].start_minute + shifts[first].minutes
                for g in (1, 2):
                    nxt = row[d + g] if d + g < H else None
                    if nxt is not None:
                        rest = g * 1440 + shifts[nxt].start_minute - end
                        if rest < need:
                            T.add(
                                "min_rest_minutes",
                                1,
                                sid,
                                [d, d + g],
                                f"{sid}: {rest // 60} h rest, {first} (day {d}) to {nxt} (day {d + g})",
                            )
        if on("max_shifts"):
            for sh_id, mx in st.max_shifts.items():
                n = row.count(sh_id)
                if n > mx:
                    T.add("max_shifts", n - mx, sid, [], f"{sid} works {n} × {sh_id}, at most {mx}")
        minutes = sum(shifts[x].minutes for x in row if x is not None)
        if on("max_minutes") and minutes > st.max_minutes:
            T.add(
                "max_minutes",
                minutes - st.max_minutes,
                sid,
                [],
                f"{sid} works {minutes} min, at most {st.max_minutes}",
            )
        if on("min_minutes") and minutes < st.min_minutes:
            T.add(
                "min_minutes",
                st.min_minutes - minutes,
                sid,
                [],
                f"{sid} works {minutes} min, at least {st.min_minutes}",
            )
        if on("max_consecutive"):
            k = st.max_consecutive
            # each k + 1 days in a row worked, first day by first day (within the stretches worked)
            starts = (d for a0, b0 in worked for d in range(a0, b0 - k + 1))
            for d in starts:
                T.add(
                    "max_consecutive",
                    1,
                    sid,
                    range(d, d + k + 1),
                    f"{sid} works more than {k} days in a row from day {d}",
                )
        if on("min_consecutive"):
            for a0, b0 in worked:
                if a0 > 0 and b0 < H - 1 and b0 - a0 + 1 < st.min_consecutive:
                    T.add(
                        "min_consecutive",
                        1,
                        sid,
                        range(a0, b0 + 1),
                        f"{sid} works {b0 - a0 + 1} day(s) in a row from day {a0}, min {st.min_consecutive}",
                    )
        if on("min_consecutive_off"):
            for a0, b0 in _stretches(work, False):
                if a0 > 0 and b0 < H - 1 and b0 - a0 + 1 < st.min_consecutive_off:
                    T.add(
                        "min_consecutive_off",
                        1,
                        sid,
                        range(a0, b0 + 1),
                        f"{sid} has {b0 - a0 + 1} day(s) off from day {a0}, min {st.min_consecutive_off}",
                    )
        weekends = sorted({w for d, w in weekend_days if work[d]})
        if on("max_weekends") and len(weekends) > st.max_weekends:
            T.add(
                "max_weekends",
                len(weekends) - st.max_weekends,
                sid,
                [],
                f"{sid} works {len(weekends)} weekends, at most {st.max_weekends}",
            )
        if on("fixed"):
            for (fs, d), want in p.fixed.items():
                if fs == sid and 0 <= d < H and row[d] != want:
                    T.add(
                        "fixed",
                        1,
                        sid,
                        [d],
                        f"{sid}: day {d} is locked to {want or 'off'}, has {row[d] or 'off'}",
                    )
        nights = [x in night for x in row]
        if on("max_consecutive_nights"):
            k = p.rule("max_consecutive_nights").value
            for d in range(H - k):
                if all(nights[d : d + k + 1]):
                    T.add(
                        "max_consecutive_nights",
                        1,
                        sid,
                        range(d, d + k + 1),
                        f"{sid} works more than {k} nights in a row from day {d}",
                    )
        if on("rest_after_nights"):
            k = p.rule("rest_after_nights").value
            for d in range(H - 1):
                if nights[d] and not nights[d + 1]:
                    for j in range(1, k + 1):
                        if d + j < H and work[d + j]:
                            T.add(
                                "rest_after_nights",
                                1,
                                sid,
                                [d, d + j],
                                f"{sid} works day {d + j}, within {k} days after nights ending day {d}",
                            )
        if on("weekly_minutes"):
            lim = st.weekly_minutes if st.weekly_minutes is not None else p.rule("weekly_minutes").value
            per_day = [shifts[x].minutes if x is not None else 0 for x in row]
            for d in range(H - 6):
                m = sum(per_day[d : d + 7])
                if m > lim:
                    T.add(
                        "weekly_minutes",
                        m - lim,
                        sid,
                        range(d, d + 7),
                        f"{sid} works {m} min in the 7 days from day {d}, at most {lim}",
                    )
        if on("weekly_rest_day"):
            monday = (7 - p.start_weekday) % 7
            for d in range(monday, H - 6, 7):
                if all(work[d : d + 7]):
                    T.add(
                        "weekly_rest_day",
                        1,
                        sid,
                        range(d, d + 7),
                        f"{sid} has no day off in the week from day {d}",
                    )
        if on("no_night") and st.no_night:
            for d in range(H):
                if nights[d]:
                    T.add("no_night", 1, sid, [d], f"{sid} may not work nights, works {row[d]} on day {d}")

    # requests
    for rq in p.requests:
        if rq.staff not in rows or not 0 <= rq.day < H:
            continue
        x = rows[rq.staff][rq.day]
        hit = x is not None if rq.shift is None else x == rq.shift
        if rq.on and not hit:
            T.cost("shift_on_request", rq.weight)
        if not rq.on and hit:
            T.cost("shift_off_request", rq.weight)

    _cover(p, rows, T)

    # re-planning: keep the previous roster outside the re-planned days
    if p.previous is not None and on("keep_previous"):
        for st in p.staff:
            prev = p.previous.get(st.id)
            if prev is None:
                continue
            for d in range(H):
                if d not in p.replan_days and d < len(prev) and rows[st.id][d] != prev[d]:
                    T.add("keep_previous", 1, st.id, [d], f"{st.id}: day {d} changed from {prev[d] or 'off'}")

    # fairness against the history ledger
    for rule, key in FAIRNESS_KEYS.items():
        if not on(rule):
            continue
        totals = []
        for st in p.staff:
            if rule == "fair_nights" and st.no_night:
                continue
            row = rows[st.id]
            if key == "nights":
                n = sum(1 for x in row if x in night)
            elif key == "weekends":
                n = len({p.weekend_index(d) for d in range(H) if row[d] is not None and p.is_weekend(d)})
            else:
                n = sum(1 for d in p.holidays if 0 <= d < H and row[d] is not None)
            totals.append(p.history.get(st.id, {}).get(key, 0) + n)
        if totals:
            spread = max(totals) - min(totals) - p.rule(rule).value
            T.add(
                rule,
                spread,
                None,
                [],
                f"{key}: spread {max(totals) - min(totals)} between staff, tolerated {p.rule(rule).value}",
            )

    breakdown = {k: v for k, v in T.breakdown.items() if v}
    return sum(breakdown.values()), T.violations, breakdown


def _cover(p: Problem, rows: Assignment, T: _Tally, days: set[int] | None = None) -> None:
    """The cover lines (of ``days``, or all) against ``rows``: under- and over-cover costs and
    broken minimums into ``T``. The staff on each day and shift are counted once (and per skill
    they have, where the cover asks for skills), not once per cover line (a year of 50 people has
    3 640 lines)."""
    lines = p.cover if days is None else [cv for cv in p.cover if cv.day in days]
    skilled = any(cv.skill is not None for cv in lines)
    count: dict[tuple[int, str], int] = defaultdict(int)
    skill_count: dict[tuple[int, str, str], int] = defaultdict(int)
    for st in p.staff:
        row = rows[st.id]
        for d in range(p.horizon) if days is None else days:
            x = row[d]
            if x is not None:
                count[d, x] += 1
                for sk in st.skills if skilled else ():
                    skill_count[d, x, sk] += 1
    for cv in lines:
        if cv.skill is None:
            n = count.get((cv.day, cv.shift), 0)
        else:
            n = skill_count.get((cv.day, cv.shift, cv.skill), 0)
        under = max(0, cv.requirement - n)
        over = max(0, n - cv.requirement)
        if cv.hard:
            T.add(
                "cover_minimum",
                under,
                None,
                [cv.day],
                f"day {cv.day} {cv.shift}: {n} staff{' with ' + cv.skill if cv.skill else ''}, "
                f"at least {cv.requirement}",
            )
        else:
            T.cost("cover_under", under * cv.weight_under)
        T.cost("cover_over", over * cv.weight_over)


def cover_share(problem: Problem, assignment: Assignment, days: set[int]) -> tuple[int, list[Violation]]:
    """The cover's share of ``check``'s objective on ``days`` and the minimums broken there (the
    LNS prices a result laid on a newer roster from the days it changes)."""
    T = _Tally(problem)
    _cover(problem, assignment, T, days)
    return sum(T.breakdown.values()), T.violations
