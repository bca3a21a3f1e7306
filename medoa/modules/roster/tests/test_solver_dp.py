"""The row DP on long horizons: minutes in a corridor, weekends and per-type maximums by penalties,
and the construction it gives on a year with many succession classes (Instance22–24)."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medoa.modules.roster.solver import Problem, check, search, solve
from medoa.modules.roster.solver.curtois import read_instance
from medoa.modules.roster.solver.model import Builder, Compiled
from medoa.modules.roster.solver.rowdp import RowPricer
from medoa.modules.roster.solver.search import LNS_GAP, _Hood, _Lns, _Marginal, _Run, _single

from .exact import exact_row


def _read(shared_data: Path, name: str) -> Problem:
    path = shared_data / "roster" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return read_instance(path.read_text())


def _subset(p: Problem, ids: list[str]) -> Problem:
    """The problem of some of the staff only (their days off and requests; the whole cover)."""
    keep = set(ids)
    p.staff = [st for st in p.staff if st.id in keep]
    p.days_off = {k: v for k, v in p.days_off.items() if k in keep}
    p.requests = [r for r in p.requests if r.staff in keep]
    return p


def _cost(row: list[int], cost: np.ndarray) -> float:
    return float(sum(cost[d, t] for d, t in enumerate(row) if t >= 0))


def _weekend_price(row: list[int], cost: np.ndarray, pairs: list[list[int]], full: float) -> float:
    return _cost(row, cost) + full * sum(row[a] >= 0 and row[b] >= 0 for a, b in pairs)


@pytest.mark.parametrize("count_weekends", [True, False])
def test_whole_weekends_are_priced_as_the_one_person_model_prices_them(
    shared_data: Path, count_weekends: bool
) -> None:
    """The sweeps' bonus ``full`` for each weekend worked on both days (or a charge, when positive).
    For random cell costs the DP's row keeps every rule of the person and its price with the bonus
    is what the one-person CP-SAT model with the same bonus finds optimal; with the weekends worked
    counted in the DP's state (column generation's form) and without (the sweeps' form; the weekend
    maximum then out of reach)."""
    p = _read(shared_data, "Instance7")
    if not count_weekends:
        p.staff = [dataclasses.replace(st, max_weekends=10**6) for st in p.staff]
    c = Compiled(p)
    pairs = [days for days in c.weekend_days.values() if len(days) == 2]
    rng = np.random.default_rng(5)
    bites = []
    for s, full in enumerate([-40.0, -15.0, -1000.0, 30.0]):
        cost = rng.integers(-60, 40, (c.H, c.T)).astype(float)
        row = RowPricer(c, s, weekends=count_weekends).price(cost, full=full)
        assert row is not None

        def whole(b: Builder, full: float = full) -> Any:
            terms = []
            for a, z in pairs:
                both = b.m.new_bool_var("")
                wa, wz = b.W(0, a), b.W(0, z)
                b.m.add(both <= wa)
                b.m.add(both <= wz)
                b.m.add(both >= wa + wz - 1)
                terms.append(int(full) * both)
            return sum(terms)

        one, c1, exact = exact_row(p, s, cost, {}, extra=whole)
        assert check(one, c1.to_assignment_one(0, row))[1] == []
        assert _weekend_price(row, cost, pairs, full) == _weekend_price(exact, cost, pairs, full)
        plain = RowPricer(c, s, weekends=count_weekends).price(cost)
        assert plain is not None
        bites.append(_weekend_price(plain, cost, pairs, full) > _weekend_price(row, cost, pairs, full))
    assert sum(bites) >= 2  # the bonus changes the cheapest row (not every small one does)


def test_a_corridor_as_wide_as_the_year_prices_like_no_corridor(shared_data: Path) -> None:
    """The per-day windows of the minute axis: a corridor that cannot bind finds rows as cheap as
    the DP over the whole axis, and a corridor of 12 shifts still keeps every rule it models."""
    p = _read(shared_data, "Instance22")
    c = Compiled(p)
    rng = np.random.default_rng(5)
    for s in (0, 17, 40):
        cost = rng.normal(0.0, 5.0, (c.H, c.T)) - 2.0
        whole = RowPricer(c, s, count=False, weekends=False).price(cost)
        wide = RowPricer(c, s, count=False, weekends=False, corridor=c.H).price(cost)
        narrow = RowPricer(c, s, count=False, weekends=False, corridor=12).price(cost)
        assert whole is not None and wide is not None and narrow is not None
        assert _cost(wide, cost) == pytest.approx(_cost(whole, cost))
        assert _cost(narrow, cost) >= _cost(whole, cost) - 1e-6
        one = _single(p, s)
        for row in (whole, narrow):
            rules = {v.rule for v in check(one, c.to_assignment_one(s, row))[1]}
            # weekends and per-type maximums are the caller's (penalties), everything else holds
            assert rules <= {"max_weekends", "max_shifts"}


def test_the_construction_gives_a_year_with_thirteen_succession_classes_a_valid_row_for_everybody(
    shared_data: Path,
) -> None:
    """Instance24 (13 classes of shifts by their forbidden successions), its first 40 people: the
    class-tracking DP took 5 s a person, and 18 rules were still broken after 23 s; the windowed
    DP gives everybody a valid row in a few seconds."""
    p = _read(shared_data, "Instance24")
    p = _subset(p, [st.id for st in p.staff[:40]])
    sol = solve(p, time_limit=30, workers=2, strategy="construct")
    assert sol.hard_violations == []
    assert sol.seconds < 20


def test_types_of_one_class_over_their_joint_maximum_are_penalised_together(shared_data: Path) -> None:
    """Instance22's R may work a1, a2, a3 (one succession class) 46 times each and must work 232
    shifts: penalising only the type over its maximum moved R's shifts between the classes and back
    (a1 ↔ p1) until the tries ran out, a broken rule; penalising the class keeps every maximum."""
    p = _read(shared_data, "Instance22")
    sol = solve(p, time_limit=30, workers=2, strategy="construct")
    assert sol.hard_violations == []
    row = sol.assignment["R"]
    for t in ("a1", "a2", "a3", "p1", "p2", "p3"):
        assert row.count(t) <= 46


def test_the_corridor_dp_counts_a_small_per_type_maximum_exactly(shared_data: Path) -> None:
    """Instance15's nights (n1 at most 4, n2 at most 3 in six weeks): with ``count_limit`` the
    corridor DP counts the tightest small maximum in its state, so costs that pay for that night
    type every day still give a row within its maximum, where the DP without the count breaks it;
    a maximum above ``count_limit`` is not counted."""
    p = _read(shared_data, "Instance15")
    c = Compiled(p)
    nights = [t for t, sh in enumerate(p.shifts) if sh.id in ("n1", "n2")]
    rng = np.random.default_rng(3)
    checked = 0
    for s, st in enumerate(p.staff):
        limits = [st.max_shifts.get(p.shifts[t].id, 0) for t in nights]
        if not all(0 < mx <= 5 for mx in limits):
            continue
        counted = RowPricer(c, s, count=True, weekends=False, corridor=12, count_limit=5)
        tight = counted.counted
        assert tight in nights and min(limits) + 1 == counted.Q
        cost = rng.normal(0.0, 5.0, (c.H, c.T))
        cost[:, tight] -= 300.0
        row = counted.price(cost)
        free = RowPricer(c, s, count=False, weekends=False, corridor=12).price(cost)
        assert row is not None and free is not None
        assert row.count(tight) <= st.max_shifts[p.shifts[tight].id] < free.count(tight)
        rules = {v.rule for v in check(_single(p, s), c.to_assignment_one(s, row))[1]}
        assert rules <= {"max_weekends", "max_shifts"}
        below = RowPricer(c, s, count=True, weekends=False, corridor=12, count_limit=min(limits) - 1)
        assert below.counted not in nights
        checked += 1
    assert checked >= 3


def test_the_lns_draws_its_windows_where_the_penalty_is(shared_data: Path) -> None:
    """Each day's share of the objective (cover and requests) adds up to what the checker charges,
    and the windows are drawn by it: with every day but a ten-day stretch solved to optimality
    without a gain, almost every window overlaps the stretch."""
    p = _read(shared_data, "Instance20")
    run = _Run(p, 60, 1, 0, None, False)
    rng = np.random.default_rng(0)
    cur = [[int(x) for x in rng.integers(-1, run.c.T, run.c.H)] for _ in range(run.c.S)]
    _, _, breakdown = check(p, run.c.to_assignment(cur))
    day = run._day_penalty(cur)
    soft = ("cover_under", "cover_over", "shift_on_request", "shift_off_request")
    assert day.sum() == pytest.approx(sum(breakdown.get(r, 0) for r in soft))
    stale = np.ones(run.c.H, dtype=bool)
    stale[50:60] = False
    starts = [run._window_start(day, 7, stale) for _ in range(300)]
    assert sum(44 <= lo < 60 for lo in starts) >= 0.9 * len(starts)
    assert len(set(starts)) > 5  # drawn, not the single worst window


def test_neighbourhoods_apart_are_those_without_days_near_or_people_in_common() -> None:
    """Two neighbourhoods run at once only apart: days ``LNS_GAP`` from each other, or no person
    in common."""
    h = _Hood("window", [0, 1, 2], list(range(20, 30)), None, 0, 1.0, None, 0, [])  # type: ignore[arg-type]
    assert not h.overlaps([0, 1, 2], list(range(30 + LNS_GAP, 40 + LNS_GAP)))
    assert not h.overlaps([0], list(range(20 - LNS_GAP - 5, 20 - LNS_GAP)))
    assert h.overlaps([2, 3], list(range(30 + LNS_GAP - 1, 45)))
    assert h.overlaps([1], list(range(21)))
    assert not h.overlaps([3, 4], [25, 26])
    # scattered days (weekends): near is near any of them
    w = _Hood("weekends", [0, 1, 2], [4, 5, 6, 7, 60, 61, 62, 63], None, 0, 1.0, None, 0, [])  # type: ignore[arg-type]
    assert not w.overlaps([0], list(range(8 + LNS_GAP, 60 - LNS_GAP)))
    assert w.overlaps([0], [63 + LNS_GAP])
    assert w.overlaps([1], [60 - LNS_GAP])


def _lns_on_swept_instance20(shared_data: Path) -> tuple[_Run, _Lns, int]:
    """An LNS (two lanes) on Instance20 after its construction and two sweeps, and that roster's cost."""
    p = _read(shared_data, "Instance20")
    run = _Run(p, 30, 2, 0, None, False)
    cur = run.sweeps(run.construct(run.start()), 0.2, max_sweeps=2)
    start, viol = run.evaluate(cur)
    assert not viol
    return run, _Lns(run, [row[:] for row in cur], dp_ok=False), start


def _run_for(run: _Run, lns: _Lns, seconds: float, start: int) -> int:
    """``lns`` run for ``seconds``: its roster breaks no rule and costs less than ``start``."""
    run.deadline = time.monotonic() + seconds
    obj, viol = run.evaluate(lns.run())
    assert not viol
    assert obj < start
    return obj


def test_two_neighbourhoods_at_once_lay_their_rosters_on_the_newer_one(shared_data: Path) -> None:
    """With two workers the LNS solves two neighbourhoods at once; a result whose roster changed
    meanwhile is laid on the roster as it is now. The roster that comes out breaks no rule and
    costs less than the one that went in."""
    run, lns, start = _lns_on_swept_instance20(shared_data)
    obj = _run_for(run, lns, 8, start)
    assert lns.lanes == 2 and lns.laid > 0
    assert lns.improved == start - obj  # every gain counted is the checker's


def test_a_result_that_changes_nothing_leaves_the_newer_roster_as_it_is(shared_data: Path) -> None:
    """A neighbourhood whose solution keeps its cells as they were changes nothing, even when the
    roster changed while it ran: its copy of the roster is the older one, and taking it would undo
    what the other lane gained meanwhile."""
    run, lns, _ = _lns_on_swept_instance20(shared_data)
    run.deadline = time.monotonic() + 30
    h = lns._launch()
    for v, val in h.b._hint_items():  # the solution is the roster as it was
        h.b.m.add(v == val)
    s, d = next((s, d) for s in range(run.c.S) for d in range(run.c.H) if (s, d) not in h.b.x)
    lns.cur[s][d] = (lns.cur[s][d] + 2) % run.c.T - 1  # the other lane's change
    lns.version += 1
    newer = [row[:] for row in lns.cur]
    lns._finish(h, h.solver.solve(h.b.m))
    assert lns.cur == newer and lns.version == h.version + 1


def test_a_result_laid_on_a_newer_roster_is_checked_from_the_people_and_days_it_changes(
    shared_data: Path,
) -> None:
    """Laying a result on a newer roster prices only what changed: the people's shares (their rules
    and requests) and the days' cover. It gives the whole check's objective, and a broken rule
    where the whole check finds one; with a fairness rule on, it leaves the roster to the whole
    check."""
    run, lns, _ = _lns_on_swept_instance20(shared_data)
    rng = random.Random(5)
    broken = 0
    for _ in range(40):
        people = rng.sample(range(run.c.S), rng.randint(1, 4))
        lo = rng.randrange(run.c.H - 5)
        cells = [(s, d) for s in people for d in range(lo, lo + rng.randint(1, 5))]
        lay = [row[:] for row in lns.cur]
        for s, d in cells:
            lay[s][d] = rng.randrange(-1, run.c.T)
        laid = lns._laid(lay, cells)
        obj, viol = run.evaluate(lay)
        assert laid is not None
        assert laid[0] == obj
        assert bool(laid[1]) == bool(viol)
        broken += bool(viol)
    assert 0 < broken < 40  # both kinds were laid
    run.c.on["fair_weekends"] = True  # as compiled from a ward with the rule on
    assert lns._laid(lay, cells) is None


def test_the_lns_passes_over_the_horizon_in_small_windows_for_everybody(shared_data: Path) -> None:
    """The LNS starts with passes over the horizon: windows of a few days for everybody, side by
    side, the two halves of the horizon interleaved so that two lanes work apart, every other pass
    shifted by half a window. A pass that gains too little makes the next a day wider, until
    ``SLIDE_MAX_DAYS``. On a swept Instance20 the first pass gains and the roster keeps every rule."""
    run, lns, start = _lns_on_swept_instance20(shared_data)
    w, H = lns.slide_w, run.c.H
    assert w == max(2, round(search.SLIDE_CELLS / (run.c.S * run.c.T))) and lns.sliding
    for shift in (0, w // 2):
        assert sorted(lns.queue) == list(range(shift, H - w + 1, w))  # side by side, all but the ends
        assert all(abs(a - b) > LNS_GAP + w for a, b in zip(lns.queue, lns.queue[1:], strict=False))
        lns._new_pass()
    # a pass that gained nothing: the next is a day wider; past the widest, the passes end
    lns.queue, lns.pass_gain = [], 0
    days = lns._next_window()
    assert lns.slide_w == w + 1 and days is not None and len(days) == w + 1
    lns.queue, lns.slide_w = [], search.SLIDE_MAX_DAYS
    assert lns._next_window() is None and not lns.sliding
    lns.slide_w, lns.sliding = w, True
    lns._new_pass()
    # a pass takes 6–7 s alone on the machine, longer beside the rest of the suite (CI once ended
    # 10 s without one): on in steps until one has ended
    cap = time.monotonic() + 60
    obj = _run_for(run, lns, 10, start)
    while sum("a pass of" in line for line in run.log) < 3 and time.monotonic() < cap:
        obj = _run_for(run, lns, 5, start)
    passes = [line for line in run.log if "a pass of" in line]
    assert len(passes) >= 3 and f"a pass of {w}-day windows gained" in passes[2]  # after the two above
    first_gain = int(passes[2].split("gained ")[1].split()[0])
    assert 0 < first_gain <= start - obj


def _swept(p: Problem, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Instance22's construction and six sweeps of the DP with weekends kept by blocking, no bisection."""
    monkeypatch.setattr(search, "WEEKEND_DP_CELLS", 0)
    monkeypatch.setattr(search, "PEN_BISECT", 0)
    run = _Run(p, 60, 1, 0, None, False)
    cur = run.sweeps(run.construct(run.start()), 1.0, max_sweeps=6, quiet=True)
    monkeypatch.undo()
    return cur


def test_the_sweeps_rows_that_count_weekends_keep_every_rule_and_find_what_blocking_misses(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The construction's DP keeps the weekend maximum by leaving off the weekends it values least,
    so a best response that works other weekends is out of its reach. The sweeps' second opinion,
    the DP with the weekends worked in its state, keeps every rule of the person and finds cheaper
    rows for most of them (Instance22 after six sweeps: 36 of 50; after 60 s: gains of 1 318 in all,
    where blocking found none)."""
    p = _read(shared_data, "Instance22")
    cur = _swept(p, monkeypatch)
    run = _Run(p, 60, 1, 0, None, False)
    marg = _Marginal(run.c, cur)
    cheaper = 0
    for s in range(0, run.c.S, 3):
        marg.remove(s, cur[s])
        cost = marg.cost(s)
        blocked = run._row_dp(s, marg, cost=cost)
        counted = run._row_weekends(s, cost)
        marg.add(s, cur[s])
        assert blocked is not None
        if counted is None:
            continue  # its cheapest row breaks a per-type maximum: no opinion
        assert check(_single(p, s), run.c.to_assignment_one(s, counted))[1] == []
        cheaper += run._price(cost, counted) < run._price(cost, blocked) - 1e-6
    assert cheaper >= 2
    # a year of Instance23 is too big for it (150 million cells a person): no opinion, no time spent
    big = _Run(_read(shared_data, "Instance23"), 60, 1, 0, None, False)
    assert big._row_weekends(0, np.zeros((big.c.H, big.c.T))) is None
    # the bonus for whole weekends before the LNS is smaller where the weekends are counted
    assert run.weekend_bonus() == search.WEEKEND_FULL_COUNTED
    assert big.weekend_bonus() == search.WEEKEND_FULL


def test_bisected_penalties_give_rows_as_cheap_or_cheaper_that_keep_every_maximum(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-type maximums are kept by penalties that double until the row keeps them, up to twice
    what it takes; bisecting between the last two gives valid rows that are never dearer and, for
    some people, cheaper (the sweeps from Instance22's construction: 207 839 after one sweep
    against 274 245)."""
    p = _read(shared_data, "Instance22")
    cur = _swept(p, monkeypatch)
    prices = {}
    for steps in (0, search.PEN_BISECT):
        monkeypatch.setattr(search, "PEN_BISECT", steps)
        run = _Run(p, 60, 1, 0, None, False)
        marg = _Marginal(run.c, cur)
        for s in range(0, run.c.S, 2):
            marg.remove(s, cur[s])
            cost = marg.cost(s)
            row = run._row_dp(s, marg, cost=cost)
            marg.add(s, cur[s])
            assert row is not None
            assert check(_single(p, s), run.c.to_assignment_one(s, row))[1] == []
            prices[steps, s] = run._price(cost, row)
    people = range(0, len(p.staff), 2)
    assert all(prices[search.PEN_BISECT, s] <= prices[0, s] + 1e-6 for s in people)
    assert sum(prices[search.PEN_BISECT, s] < prices[0, s] - 1e-6 for s in people) >= 2


def test_column_generation_prices_with_the_cheaper_of_the_two_dps_and_holds_its_fixings(
    shared_data: Path,
) -> None:
    """Heuristic pricing (Instance19, twelve weeks): each row keeps every rule of the person, costs
    no more than the construction DP's row, holds a dive's fixed cells, and for some people under
    the duals of a roster the weekend-counting DP's row is the cheaper one."""
    p = _read(shared_data, "Instance19")
    run = _Run(p, 60, 1, 0, None, False)
    cur = run.sweeps(run.construct(run.start()), 1.0, max_sweeps=3, quiet=True)
    marg = _Marginal(run.c, cur)
    cheaper = 0
    for s in range(run.c.S):
        marg.remove(s, cur[s])
        cost = marg.cost(s)
        marg.add(s, cur[s])
        fix = {3: cur[s][3], 10: -1}
        row = run._row_priced(s, cost, fix)
        plain = run._row_dp(s, None, cost=cost, fix=fix)
        assert row is not None and plain is not None
        assert check(_single(p, s), run.c.to_assignment_one(s, row))[1] == []
        assert row[3] == cur[s][3] and row[10] == -1
        assert run._price(cost, row) <= run._price(cost, plain) + 1e-6
        cheaper += run._price(cost, row) < run._price(cost, plain) - 1e-6
    assert cheaper >= 2


def test_the_helper_process_builds_every_other_row_of_the_sweeps_and_its_loss_is_survived(
    shared_data: Path,
) -> None:
    """With two workers the sweeps before the LNS send every other person's costs to a second
    process, which builds the row this process would (a run of the same problem, fresh), while this
    one builds the next person's. The rows keep every rule, the sweeps only gain, and when the
    helper dies the sweeps build every row here."""
    p = _read(shared_data, "Instance20")
    run = _Run(p, 600, 2, 0, None, False)
    cur = run.construct(run.start())
    before = run.evaluate(cur)[0]
    run.start_helper()
    helper = run.helper
    assert helper is not None
    try:
        fresh = _Run(p, 600, 1, 0, None, False)
        marg = _Marginal(run.c, cur)
        marg.remove(3, cur[3])
        cost = marg.cost(3)
        started = time.monotonic()
        while not helper.submit_rows([(3, cost)], 0.0):  # until it is ready
            assert helper.alive
            assert time.monotonic() < started + 60
            time.sleep(0.05)
        assert helper.collect() == [(3, fresh._row_priced(3, cost, None))]

        cur = run.sweeps(cur, 1.0, max_sweeps=2)
        assert run.paired >= run.c.S // 2  # half of the first sweep's rows at least
        obj, viol = run.evaluate(cur)
        assert viol == []
        assert obj < before
        helper.proc.kill()
        helper.proc.join()
        paired = run.paired
        cur = run.sweeps(cur, 1.0, max_sweeps=1)
        assert run.helper is None
        assert run.paired == paired
        after, viol = run.evaluate(cur)
        assert viol == []
        assert after <= obj
    finally:
        helper.close()
