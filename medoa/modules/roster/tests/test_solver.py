"""The roster solver: the checker's rules as tables, small solves, explanations and re-planning."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from medoa.modules.roster.solver import Cover, Problem, Request, Rule, Shift, Staff, check, solve
from medoa.modules.roster.solver.curtois import read_instance, read_solution, write_solution

if TYPE_CHECKING:
    from medoa.modules.roster.solver.model import Compiled

A = Shift("A", 480, start_minute=8 * 60, kind="day")  # 白班 8–16
P = Shift("P", 480, start_minute=16 * 60, kind="evening")  # 小夜 16–24
N = Shift("N", 480, start_minute=0, kind="night")  # 大夜 0–8


def ward(staff: list[Staff] | None = None, horizon: int = 7, **kw: object) -> Problem:
    p = Problem(horizon=horizon, shifts=[A, P, N], staff=staff or [Staff("a"), Staff("b")])
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def rows(text: str, horizon: int = 7) -> dict[str, list[str | None]]:
    """'a: A,A,,N' lines -> assignment (missing days off)."""
    out: dict[str, list[str | None]] = {}
    for line in text.strip().splitlines():
        sid, cells = line.split(":")
        days: list[str | None] = [x.strip() or None for x in cells.split(",")]
        out[sid.strip()] = days + [None] * (horizon - len(days))
    return out


def on(name: str, value: int = 0, hard: bool = True, weight: int = 1) -> dict[str, Rule]:
    p = Problem(horizon=1, shifts=[], staff=[])
    rules = p.rules
    rules[name] = Rule(enabled=True, hard=hard, weight=weight, value=value)
    return rules


# (rule, problem, roster that breaks it, roster that keeps it)
RULE_TABLE = [
    ("days_off", ward(days_off={"a": {2}}), "a: ,,A", "a: ,,,A"),
    ("forbidden_follow", ward(forbidden_follow={"P": {"A"}}), "a: P,A", "a: P,P"),
    ("max_shifts", ward([Staff("a", max_shifts={"N": 1})]), "a: N,,,N", "a: N,,,A"),
    ("max_minutes", ward([Staff("a", max_minutes=960)]), "a: A,A,,A", "a: A,A"),
    ("min_minutes", ward([Staff("a", min_minutes=960)]), "a: A", "a: A,A"),
    ("max_consecutive", ward([Staff("a", max_consecutive=2)]), "a: ,A,A,A", "a: ,A,A,,A,A"),
    # a one-day stretch inside the horizon breaks it; at the edge it is exempt
    ("min_consecutive", ward([Staff("a", min_consecutive=2)]), "a: ,A,,,", "a: A,,,,,,A"),
    ("min_consecutive_off", ward([Staff("a", min_consecutive_off=2)]), "a: A,,A,A,A,A,A", "a: A,A,A,A,A,A,"),
    ("max_weekends", ward([Staff("a", max_weekends=0)]), "a: ,,,,,A", "a: A,A,A,A,A"),
    ("fixed", ward(fixed={("a", 1): "A"}), "a: ,P", "a: ,A"),
    ("cover_minimum", ward(cover=[Cover(0, "A", 1, 100, hard=True)]), "a: P", "a: A"),
    ("max_consecutive_nights", ward(rules=on("max_consecutive_nights", 1)), "a: N,N", "a: N,,N"),
    ("rest_after_nights", ward(rules=on("rest_after_nights", 2)), "a: N,,A", "a: N,,,A"),
    ("min_rest_minutes", ward(rules=on("min_rest_minutes", 11 * 60)), "a: A,N", "a: N,A"),
    ("weekly_minutes", ward(rules=on("weekly_minutes", 3 * 480)), "a: A,A,,A,A", "a: A,A,,,A,,"),
    ("weekly_rest_day", ward(rules=on("weekly_rest_day")), "a: A,A,A,A,A,A,A", "a: A,A,A,A,A,A,"),
    ("no_night", ward([Staff("a", no_night=True)], rules=on("no_night")), "a: ,N", "a: ,A"),
]


@pytest.mark.parametrize(("rule", "problem", "broken", "kept"), RULE_TABLE, ids=[r[0] for r in RULE_TABLE])
def test_checker_rule_table(rule: str, problem: Problem, broken: str, kept: str) -> None:
    _, bad, _ = check(problem, rows(broken))
    _, good, _ = check(problem, rows(kept))
    assert [v.rule for v in bad] == [rule]
    assert good == []
    assert bad[0].staff in (None, "a")


@pytest.mark.parametrize(("rule", "problem", "broken", "kept"), RULE_TABLE, ids=[r[0] for r in RULE_TABLE])
def test_soft_rule_costs_its_weight(rule: str, problem: Problem, broken: str, kept: str) -> None:
    problem = replace(problem, rules=dict(problem.rules))
    problem.rules[rule] = Rule(enabled=True, hard=False, weight=7, value=problem.rule(rule).value)
    objective, bad, breakdown = check(problem, rows(broken))
    assert bad == []
    assert breakdown[rule] % 7 == 0 and breakdown[rule] > 0
    assert objective == sum(breakdown.values())
    assert rule not in check(problem, rows(kept))[2]


def test_requests_and_cover_cost_their_weights() -> None:
    p = ward(
        requests=[Request("a", 0, "A", True, 3), Request("b", 1, None, False, 5)],
        cover=[Cover(0, "A", 2, 100, 1), Cover(1, "P", 0, 100, 4)],
    )
    objective, viol, breakdown = check(p, rows("a: P\nb: ,P"))
    assert viol == []
    assert breakdown == {"shift_on_request": 3, "shift_off_request": 5, "cover_under": 200, "cover_over": 4}
    assert objective == 212


def test_fairness_balances_against_the_history_ledger() -> None:
    rules = on("fair_nights", value=0, hard=False, weight=10)
    p = ward(rules=rules, history={"a": {"nights": 2}, "b": {"nights": 0}})
    assert check(p, rows("a: N\nb: "))[2] == {"fair_nights": 30}
    assert check(p, rows("a: \nb: N,N"))[2] == {}


def test_solve_keeps_every_product_rule_on_a_small_ward() -> None:
    nurses = [Staff(f"n{i}", max_consecutive=5, skills=frozenset({"N3"} if i < 3 else ())) for i in range(8)]
    nurses[7] = replace(nurses[7], no_night=True)
    rules = {}
    for name, value in (
        ("max_consecutive_nights", 2),
        ("rest_after_nights", 2),
        ("min_rest_minutes", 11 * 60),
        ("weekly_minutes", 40 * 60),
        ("weekly_rest_day", 0),
        ("no_night", 0),
    ):
        rules.update({name: Rule(enabled=True, value=value)})
    p = ward(nurses, horizon=14)
    p.rules.update(rules)
    p.cover = [Cover(d, s, 1, 100, 1) for d in range(14) for s in ("A", "P", "N")]
    p.cover += [Cover(d, "N", 1, 100, 0, skill="N3") for d in range(14)]
    sol = solve(p, time_limit=5, workers=1)
    assert sol.hard_violations == []
    assert sol.status in ("optimal", "feasible")
    objective, viol, breakdown = check(p, sol.assignment)
    assert (objective, viol, breakdown) == (sol.objective, [], sol.breakdown)
    assert all(sol.assignment["n7"][d] != "N" for d in range(14))


def test_infeasible_rules_are_explained_with_rule_person_and_days() -> None:
    # n0 must work 5 shifts but has only days 0-2 available
    p = ward([Staff("n0", min_minutes=5 * 480), Staff("n1")], days_off={"n0": {3, 4, 5, 6}})
    sol = solve(p, time_limit=5, workers=1)
    assert sol.status == "infeasible"
    rules = {v.rule for v in sol.hard_violations}
    assert rules & {"min_minutes", "days_off"}
    text = "\n".join(sol.explanation)
    assert "n0" in text
    assert any(r in text for r in ("min_minutes", "days_off"))


def test_unmet_minimum_cover_is_explained_by_day() -> None:
    p = ward([Staff("n0", max_shifts={"N": 0})], cover=[Cover(3, "N", 1, 100, hard=True)])
    sol = solve(p, time_limit=5, workers=1)
    assert sol.status == "infeasible"
    assert [(v.rule, v.day) for v in sol.hard_violations] == [("cover_minimum", 3)]
    assert any("cover_minimum" in line and "3" in line for line in sol.explanation)


def test_replanning_after_a_sick_call_keeps_the_other_days() -> None:
    nurses = [Staff(f"n{i}", max_consecutive=5, min_minutes=4 * 480) for i in range(6)]
    p = ward(nurses, horizon=14)
    p.cover = [Cover(d, s, 1, 100, 1) for d in range(14) for s in ("A", "P")]
    first = solve(p, time_limit=3, workers=1)
    assert first.hard_violations == []
    sick = "n0"
    worked = [d for d in range(14) if first.assignment[sick][d] is not None][:2]
    again = replace(
        p,
        days_off={sick: set(worked)},
        previous=first.assignment,
        replan_days=set(range(min(worked), min(worked) + 3)),
    )
    second = solve(again, time_limit=3, workers=1)
    assert second.hard_violations == []
    assert all(second.assignment[sick][d] is None for d in worked)
    changed = {
        (s, d)
        for s in first.assignment
        for d in range(14)
        if first.assignment[s][d] != second.assignment[s][d]
    }
    outside = {(s, d) for s, d in changed if d not in again.replan_days}
    # the sick nurse's own days must change; beyond the re-planned window almost nothing moves
    assert len(outside) <= 2 * len(worked)


def test_locked_cells_are_kept() -> None:
    p = ward(horizon=7, fixed={("a", 0): "N", ("b", 3): None})
    p.cover = [Cover(d, "A", 2, 100, 1) for d in range(7)]
    sol = solve(p, time_limit=3, workers=1)
    assert sol.assignment["a"][0] == "N"
    assert sol.assignment["b"][3] is None
    assert sol.hard_violations == []


def _instance(shared_data: Path, name: str) -> Path:
    path = shared_data / "roster" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path


def test_curtois_reader_and_solution_round_trip(shared_data: Path) -> None:
    p = read_instance(_instance(shared_data, "Instance1").read_text())
    assert (p.horizon, len(p.staff), [s.id for s in p.shifts]) == (14, 8, ["D"])
    assert p.staff[0].max_minutes == 4320 and p.staff[0].min_consecutive == 2
    sol = {st.id: ["D" if d % 3 else None for d in range(14)] for st in p.staff}
    assert read_solution(p, write_solution(p, sol)) == sol


def test_instance1_is_solved_to_the_known_optimum(shared_data: Path) -> None:
    p = read_instance(_instance(shared_data, "Instance1").read_text())
    sol = solve(p, time_limit=10, workers=2)
    objective, viol, _ = check(p, sol.assignment)
    assert viol == []
    assert objective == 607


@pytest.mark.slow
def test_instance2_comes_close_to_its_known_optimum(shared_data: Path) -> None:
    # 828 is the proven optimum; on a quiet machine the solver reaches it within 10 s. The test
    # suite runs beside other tests on 2 cores, so it allows what a busy machine reached (922).
    p = read_instance(_instance(shared_data, "Instance2").read_text())
    sol = solve(p, time_limit=30, workers=2)
    objective, viol, _ = check(p, sol.assignment)
    assert viol == []
    assert 828 <= objective <= 828 * 1.15


def _every_rule_soft(rng: random.Random) -> Problem:
    """Five nurses on 14 days with every rule on and soft, requests, history and re-planning."""
    staff = [
        Staff(
            f"n{i}",
            max_shifts={"N": 3},
            max_minutes=9 * 480,
            min_minutes=6 * 480,
            max_consecutive=3,
            min_consecutive=2,
            min_consecutive_off=2,
            max_weekends=1,
            skills=frozenset({"N3"}) if i % 2 else frozenset(),
            no_night=i == 0,
        )
        for i in range(5)
    ]
    p = ward(staff, horizon=14, start_weekday=3, forbidden_follow={"N": {"A", "P"}, "P": {"A"}})
    p.days_off = {"n1": {2, 3}}
    p.fixed = {("n2", 5): "A", ("n3", 6): None}
    p.requests = [Request("n0", 1, "A", True, 3), Request("n4", 9, None, False, 2)]
    p.cover = [Cover(d, s, 1, 100, 1) for d in range(14) for s in ("A", "P", "N")]
    p.cover += [Cover(d, "N", 1, 50, 0, skill="N3", hard=True) for d in range(14)]
    p.holidays = {4, 5}
    p.history = {"n1": {"nights": 3, "weekends": 1, "holidays": 2}}
    p.previous = {f"n{i}": [rng.choice(["A", "P", "N", None]) for _ in range(14)] for i in range(5)}
    p.replan_days = {6, 7, 8}
    for name in [*p.rules, "cover_minimum", "max_consecutive_nights", "rest_after_nights"]:
        value = {"max_consecutive_nights": 1, "rest_after_nights": 2, "min_rest_minutes": 11 * 60}.get(
            name, {"weekly_minutes": 4 * 480}.get(name, 1 if name.startswith("fair_") else 0)
        )
        p.rules[name] = Rule(enabled=True, hard=False, weight=3, value=value)
    for name in ("min_rest_minutes", "weekly_minutes", "weekly_rest_day", "no_night"):
        p.rules[name] = Rule(enabled=True, hard=False, weight=3, value=p.rules[name].value)
    return p


Drawn = Iterator[tuple[dict[str, list[str | None]], list[list[int]]]]


def _soft_rosters(rng: random.Random, count: int) -> tuple[Problem, Compiled, Drawn]:
    """``_every_rule_soft``, compiled, and ``count`` random rosters on it (as given and compiled),
    drawn one at a time from ``rng`` as the caller goes."""
    from medoa.modules.roster.solver.model import Compiled

    p = _every_rule_soft(rng)
    c = Compiled(p)

    def rosters() -> Drawn:
        for _ in range(count):
            roster = {f"n{i}": [rng.choice(["A", "P", "N", None, None]) for _ in range(14)] for i in range(5)}
            yield roster, c.from_assignment(roster)

    return p, c, rosters()


def test_model_and_checker_agree_on_every_soft_rule() -> None:
    """The CP-SAT model's objective at a roster (its complete hint) equals the checker's."""
    from medoa.modules.roster.solver.model import Builder

    p, c, rosters = _soft_rosters(random.Random(7), 20)
    for roster, cur in rosters:
        b = Builder(c, cur, list(range(5)))
        objective, viol, _ = check(p, roster)
        assert viol == []
        assert b.hint_objective() + b.offset == objective


def test_a_neighbourhood_on_scattered_days_prices_its_change_as_the_checker_does() -> None:
    """A model freeing some people on days not next to each other (the LNS's weekends) changes
    nothing else, and its objective moves by what the checker's does."""
    from ortools.sat.python import cp_model

    from medoa.modules.roster.solver.model import Builder

    rng = random.Random(11)
    p, c, rosters = _soft_rosters(rng, 12)
    for roster, cur in rosters:
        staff = rng.sample(range(5), 3)
        days = sorted(rng.sample(range(14), 5))
        b = Builder(c, cur, staff, days=days)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = 10
        assert solver.solve(b.m) == cp_model.OPTIMAL
        new = b.read(solver, cur)
        changed = {(s, d) for s in range(5) for d in range(14) if new[s][d] != cur[s][d]}
        assert changed <= {(s, d) for s in staff for d in days}
        before, after = check(p, roster)[0], check(p, c.to_assignment(new))[0]
        assert after - before == round(solver.objective_value) - b.hint_objective()
        assert after <= before


def test_long_horizons_search_pairs_of_weekends_with_their_fridays_and_mondays() -> None:
    """The LNS's weekend neighbourhoods (8 weeks and more): two weekends, each from Friday to
    Monday, for everybody when they fit its cells, else for as many people as do."""
    from medoa.modules.roster.solver import search

    staff = [Staff(f"n{i}", max_weekends=4) for i in range(6)]
    run = search._Run(ward(staff, horizon=56), 1.0, 1, 3, None, False)
    lns = search._Lns(run, run.start(), dp_ok=True)
    assert "weekends" in lns.all_kinds
    saturdays = set(range(5, 56, 7))
    for cells, people in ((10**6, 6), (2 * 8 * 3, 2), (4 * 8 * 3, 4)):
        lns.weekend_cells = cells
        for _ in range(10):
            free, days = lns._draw_weekends()
            firsts = sorted(d for d in days if d in saturdays)
            assert len(firsts) == 2
            assert days == sorted(d + g for d in firsts for g in (-1, 0, 1, 2) if d + g < 56)
            assert len(set(free)) == len(free) == people
    short = search._Run(ward(staff, horizon=28), 1.0, 1, 3, None, False)
    assert "weekends" not in search._Lns(short, short.start(), dp_ok=True).all_kinds
