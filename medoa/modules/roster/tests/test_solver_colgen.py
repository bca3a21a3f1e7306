"""Column generation: the pricing DP against one-person CP-SAT, and the bound that proves a roster."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from medoa.modules.roster.solver import check, colgen, search, solve
from medoa.modules.roster.solver.colgen import ColumnGeneration, Pricing, request_costs
from medoa.modules.roster.solver.curtois import read_instance
from medoa.modules.roster.solver.model import Compiled
from medoa.modules.roster.solver.parallel import PricingProcess
from medoa.modules.roster.solver.rowdp import RowPricer
from medoa.modules.roster.solver.search import _single

from .exact import exact_row


def _instance(shared_data: Path, name: str) -> Path:
    path = shared_data / "roster" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path


@pytest.mark.parametrize("start_weekday", [0, 6])
def test_pricing_dp_finds_the_cheapest_valid_row(shared_data: Path, start_weekday: int) -> None:
    """For random cell costs the DP's row keeps every rule of the person and costs what the exact
    one-person CP-SAT model (the costs as shift requests) finds optimal: weekends, stretches,
    successions, the minutes window and one per-type maximum (L=9) are in the DP's state; day 0
    a Monday (the benchmark) or a Sunday (a weekend cut by the horizon)."""
    p = read_instance(_instance(shared_data, "Instance7").read_text())
    p.start_weekday = start_weekday
    c = Compiled(p)
    rng = np.random.default_rng(2)
    for s in range(6):
        cost = rng.integers(-60, 40, (c.H, c.T)).astype(float)
        one, c1, exact = exact_row(p, s, cost, {})
        row = RowPricer(c, s).price(cost)
        assert row is not None
        assert check(one, c1.to_assignment_one(0, row))[1] == []
        price = sum(cost[d, t] for d, t in enumerate(row) if t >= 0)
        assert price == sum(cost[d, t] for d, t in enumerate(exact) if t >= 0)


def test_pricing_dp_keeps_the_cells_a_dive_fixed(shared_data: Path) -> None:
    """A cell dive prices rows with some cells held (a shift or off on a day): the DP's row keeps
    them and costs what the one-person CP-SAT model with those cells locked finds optimal."""
    p = read_instance(_instance(shared_data, "Instance7").read_text())
    c = Compiled(p)
    rng = np.random.default_rng(4)
    for s in range(4):
        pricer = RowPricer(c, s)
        other = pricer.price(rng.integers(-60, 40, (c.H, c.T)).astype(float))
        assert other is not None
        days = rng.choice(c.H, size=5, replace=False)
        fix = {int(d): other[d] for d in days}  # cells of a valid row: they can all hold at once
        cost = rng.integers(-60, 40, (c.H, c.T)).astype(float)
        one, c1, exact = exact_row(p, s, cost, fix)
        row = pricer.price(cost, fix)
        assert row is not None
        assert all(row[d] == t for d, t in fix.items())
        assert check(one, c1.to_assignment_one(0, row))[1] == []
        price = sum(cost[d, t] for d, t in enumerate(row) if t >= 0)
        assert price == sum(cost[d, t] for d, t in enumerate(exact) if t >= 0)


def test_instance4_is_proven_optimal_by_the_column_generation_bound(shared_data: Path) -> None:
    p = read_instance(_instance(shared_data, "Instance4").read_text())
    sol = solve(p, time_limit=30, workers=2)
    objective, viol, _ = check(p, sol.assignment)
    assert viol == []
    assert objective == 1716
    assert sol.status == "optimal"
    assert any("lower bound 1716" in line for line in sol.log)


def test_pricing_starts_from_the_penalties_that_last_kept_the_maximums(shared_data: Path) -> None:
    """Per-type maximums the DP does not count are kept by penalties raised until the row keeps
    them; the next pricing of the same person starts from those penalties (scaled down), so rows
    under similar duals need fewer DP passes, and every row still keeps all the person's rules."""
    p = read_instance(_instance(shared_data, "Instance15").read_text())
    c = Compiled(p)
    pricing = Pricing(c, lambda s, cost, fix: None)
    nights = [t for t, sh in enumerate(p.shifts) if sh.id in ("n1", "n2")]
    limited = [
        i for i, st in enumerate(p.staff) if all(0 < st.max_shifts.get(p.shifts[t].id, 0) < 9 for t in nights)
    ]
    s = limited[0]
    rng = np.random.default_rng(5)
    passes = []
    for _ in range(3):
        cost = rng.integers(-20, 20, (c.H, c.T)).astype(float)
        cost[:, nights] -= 200  # nights on every day are the cheapest row, far over the maximums
        before = pricing.passes
        row = pricing(s, cost)
        passes.append(pricing.passes - before)
        assert row is not None
        assert check(_single(p, s), c.to_assignment_one(s, row))[1] == []
    assert pricing.pens[s][nights].min() > 0
    assert passes[0] >= 3
    assert max(passes[1:]) < passes[0]
    assert not pricing.exact


def _first_columns(cg: ColumnGeneration, pricing: Pricing) -> None:
    """Each person's cheapest row under their requests alone: a first column each."""
    for s in range(cg.c.S):
        row = pricing(s, cg.req[s])
        assert row is not None
        cg.add(s, row)


def test_escape_pricing_takes_over_when_the_usual_pricing_finds_nothing(shared_data: Path) -> None:
    """When the usual pricing brings no column (here: none at all), a round of the escape pricing
    runs against the same duals; the generation goes on until neither finds a column, and ends at
    the LP optimum the exact pricing alone reaches."""
    p = read_instance(_instance(shared_data, "Instance4").read_text())
    c = Compiled(p)
    exact = Pricing(c, lambda s, cost, fix: None)
    alone = ColumnGeneration(c, exact, time.monotonic() + 120, lambda msg: None)
    _first_columns(alone, exact)
    alone.generate()
    notes: list[str] = []
    cg = ColumnGeneration(c, lambda s, cost, fix: None, time.monotonic() + 120, notes.append)
    cg.escape = Pricing(c, lambda s, cost, fix: None)
    _first_columns(cg, cg.escape)
    cg.generate()
    assert alone.lower > -np.inf
    assert cg.lower == pytest.approx(alone.lower)
    assert sum(map(len, cg.cols)) > c.S
    assert any("the other pricing" in n for n in notes)


def test_smoothed_duals_end_at_the_lp_optimum_the_plain_duals_reach(shared_data: Path) -> None:
    """With smoothed pricing duals a round that finds nothing is priced again at the LP's own duals
    before the generation stops, so it ends at the same LP optimum as plain duals (exact pricing:
    that optimum is the bound) — without that step Instance1's stopped at 562.5, not 558."""
    p = read_instance(_instance(shared_data, "Instance1").read_text())
    c = Compiled(p)
    results = []
    for smooth in (0.0, 0.5):
        pricing = Pricing(c, lambda s, cost, fix: None)
        cg = ColumnGeneration(c, pricing, time.monotonic() + 120, lambda msg: None)
        cg.smooth = smooth
        _first_columns(cg, pricing)
        cg.generate()
        assert cg.lower > -np.inf  # converged
        results.append(cg)
    assert results[1].lower == pytest.approx(results[0].lower)
    assert results[1].rounds != results[0].rounds  # the smoothed run took its own path there


def test_pricing_process_prices_as_this_process_does_and_its_loss_is_survived(shared_data: Path) -> None:
    """The helper process builds the same pricing from the problem: its rows for the same duals are
    this process's rows. When it dies mid-run, the generation prices its people itself and reaches
    the same LP optimum."""
    p = read_instance(_instance(shared_data, "Instance4").read_text())
    c = Compiled(p)
    local = Pricing(c, lambda s, cost, fix: None)
    helper = PricingProcess(p, local, heuristic=False, count_rows=False, seed=0)
    try:
        req, _ = request_costs(c)
        pi = np.random.default_rng(3).integers(0, 80, (c.H, c.T)).astype(float)
        people = list(range(1, c.S, 2))
        started = time.monotonic()
        while not helper.submit(pi, [(s, None) for s in people], False):  # until it is ready
            assert helper.alive
            assert time.monotonic() < started + 60
            time.sleep(0.05)
        rows = helper.collect()
        assert rows is not None
        assert rows == [(s, local(s, req[s] - pi)) for s in people]
        assert all(row is not None for _, row in rows)

        exact = Pricing(c, lambda s, cost, fix: None)
        alone = ColumnGeneration(c, exact, time.monotonic() + 120, lambda msg: None)
        _first_columns(alone, exact)
        alone.generate()

        pricing = Pricing(c, lambda s, cost, fix: None)
        helper.pricing = pricing
        cg = ColumnGeneration(c, pricing, time.monotonic() + 120, lambda msg: None)
        cg.helper = helper
        _first_columns(cg, pricing)
        cg.generate(max_rounds=2)
        assert cg.helper is helper  # it priced two rounds
        helper.proc.kill()
        helper.proc.join()
        cg.generate()
        assert cg.helper is None
        assert cg.lower == pytest.approx(alone.lower)
    finally:
        helper.close()


def test_a_pricing_process_dying_while_it_starts_is_given_up_not_waited_for(
    shared_data: Path, tmp_path: Path
) -> None:
    """spawn runs the caller's main module again in the child: in a script without a main guard
    the child starts a helper of its own while it starts, which multiprocessing refuses, and dies.
    Its caller gives it up and goes on; Instance13's problem (96 KB pickled, more than a pipe
    holds) once left the caller waiting for ever."""
    path = _instance(shared_data, "Instance13")
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            import numpy as np
            from medoa.modules.roster.solver.colgen import Pricing
            from medoa.modules.roster.solver.curtois import read_instance
            from medoa.modules.roster.solver.model import Compiled
            from medoa.modules.roster.solver.parallel import PricingProcess

            p = read_instance(open({str(path)!r}).read())
            c = Compiled(p)
            local = Pricing(c, lambda s, cost, fix: None)
            helper = PricingProcess(p, local, heuristic=False, count_rows=False, seed=0)
            started = time.monotonic()
            while helper.alive and time.monotonic() < started + 60:
                if helper.submit(np.zeros((c.H, c.T)), [(0, None)], False):
                    break
                time.sleep(0.05)
            print("alive" if helper.alive else "given up", round(time.monotonic() - started))
            """
        )
    )
    root = Path(__file__).resolve().parents[4]
    out = subprocess.run(
        [sys.executable, str(script)], cwd=root, capture_output=True, text=True, timeout=90, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    verdict, seconds = out.stdout.rsplit(maxsplit=1)
    assert verdict == "given up"
    assert int(seconds) < 30  # the child's death is seen, not waited out (START_TIMEOUT)
    assert "bootstrapping phase" in out.stderr  # the child's own error, as the scenario says


def test_a_row_over_its_per_type_maximums_is_repaired_near_the_cheapest_valid_one(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instance15's people have per-type maximums the DP does not count (its rows would be too
    large). When a type is cheap on every day, penalties swing its shifts from all to none; the
    repair keeps the cheapest days up to the maximum: a valid row, far cheaper than the penalties'
    and near what the one-person CP-SAT model finds optimal."""
    p = read_instance(_instance(shared_data, "Instance15").read_text())
    c = Compiled(p)
    limits = colgen.limits_of(c)
    rng = np.random.default_rng(7)

    def no_fallback(s: int, cost: np.ndarray, fix: dict[int, int] | None) -> list[int] | None:
        raise AssertionError("the DP prices every person of Instance15")

    for s in range(3):
        small = [(t, mx) for t, mx in limits[s] if mx <= 5]
        assert small, "Instance15's people have small per-type maximums"
        cost = rng.integers(-30, 40, (c.H, c.T)).astype(float)
        for t, _ in small:
            cost[:, t] -= 150  # every day: the free row works this type far beyond its maximum
        pr = RowPricer(c, s, count=False)
        free = pr.price(cost)
        assert free is not None
        assert any(free.count(t) > mx for t, mx in small)

        fixed = colgen.repair(pr, limits[s], cost, None, free)
        assert fixed is not None
        one, c1, exact = exact_row(p, s, cost, {})
        assert check(one, c1.to_assignment_one(0, fixed))[1] == []
        monkeypatch.setattr(colgen, "REPAIR", False)
        penalised = Pricing(c, no_fallback)(s, cost)
        monkeypatch.setattr(colgen, "REPAIR", True)
        repaired = Pricing(c, no_fallback)(s, cost)
        assert penalised is not None and repaired is not None
        for row in (penalised, repaired):
            assert check(one, c1.to_assignment_one(0, row))[1] == []
        # seed 7: the repaired rows cost −687, −860, −1 077; penalties alone −268, −188, −290;
        # the cheapest valid rows −762, −908, −1 460
        best, pen, rep = (colgen.row_price(cost, r) for r in (exact, penalised, repaired))
        assert rep == colgen.row_price(cost, fixed)
        assert best <= rep < pen
        assert rep - best <= 0.5 * (pen - best)


@pytest.mark.parametrize(
    ("proved", "full_next", "best", "lp", "end"),
    [
        (True, False, 5000.0, 3000.0, search.DIVE_END_BOUND),  # a proved bound: dives are worth it
        (True, True, 3100.0, 3000.0, search.DIVE_END_BOUND),
        (False, True, 3900.0, 3870.0, search.DIVE_END_NEAR),  # near the LP, the full model next
        (False, True, search.DIVE_NEAR * 3870.0, 3870.0, search.DIVE_END_NEAR),
        (False, True, 5800.0, 3980.0, search.DIVE_END),  # far from the LP (Instance19's 1.46×)
        (False, True, 14340.0, 3870.0, search.DIVE_END),  # no dive yet: the first roster
        (False, False, 3900.0, 3870.0, search.DIVE_END),  # our LNS next, not the full model
    ],
)
def test_dives_go_on_only_while_they_land_near_the_lp_before_the_full_model(
    proved: bool, full_next: bool, best: float, lp: float, end: float
) -> None:
    """Where the dives stop: later with a proved bound, later before CP-SAT's full model while
    the best dive is near the LP, else at half the time."""
    assert search.DIVE_END < search.DIVE_END_NEAR
    assert search.dive_end(proved, full_next, best, lp) == end


def test_guided_sweeps_round_a_fractional_lp_near_its_value(shared_data: Path) -> None:
    """Instance3's converged LP (1 001, the optimum) has 4 of 20 people integral: each person's
    largest column gives 1 304; sweeps pulled towards the LP's cell values, then plain sweeps,
    give a valid roster within 2 % of the LP. The pull of an integral person is +1 on their shift,
    −1 on every shift of their days off, 0 elsewhere."""
    p = read_instance(_instance(shared_data, "Instance3").read_text())
    run = search._Run(p, 120, 1, 0, None, False)
    exact = Pricing(run.c, lambda s, cost, fix: None)
    cg = ColumnGeneration(run.c, exact, time.monotonic() + 120, lambda msg: None)
    _first_columns(cg, exact)
    lp = cg.generate() + cg.offset
    pull = cg.cell_values()
    for s, xs in enumerate(cg.values()):
        k = int(np.argmax(xs))
        if xs[k] > 1 - 1e-6:
            for d, t in enumerate(cg.cols[s][k]):
                want = np.full(run.c.T, -1.0) if t < 0 else np.eye(run.c.T)[t]
                assert pull[s, d] == pytest.approx(want)
    largest, _, _ = check(p, run.c.to_assignment(cg.roster(cg.largest())))
    objective, viol, _ = check(p, run.c.to_assignment(run.guided(cg)))
    assert viol == []
    assert objective <= 1.02 * lp < largest


def test_the_support_model_searches_only_the_cells_the_lp_uses(shared_data: Path) -> None:
    """From each person's largest column of Instance3's converged LP, CP-SAT on the model with the
    cells outside the LP's support closed returns a valid roster, cheaper, every cell of it in the
    support or in the roster it started from. With nothing but the start's own cells open, the
    roster can only drop shifts."""
    p = read_instance(_instance(shared_data, "Instance3").read_text())
    run = search._Run(p, 6, 1, 0, None, False)  # each search below gets 6 s from its start
    exact = Pricing(run.c, lambda s, cost, fix: None)
    cg = ColumnGeneration(run.c, exact, time.monotonic() + 120, lambda msg: None)
    _first_columns(cg, exact)
    cg.generate()
    support = cg.support()
    assert 0 < support.sum() < support.size
    start = cg.roster(cg.largest())
    before, _, _ = check(p, run.c.to_assignment(start))
    run.deadline = time.monotonic() + 6
    new = run.support_model(support, [row[:] for row in start], 0.5)
    objective, viol, _ = check(p, run.c.to_assignment(new))
    assert viol == []
    assert objective < before
    for s, row in enumerate(new):
        for d, t in enumerate(row):
            assert t < 0 or support[s, d, t] or start[s][d] == t

    # CP-SAT's own search moves 6 cells of this start in 5 s when nothing is closed
    run.deadline = time.monotonic() + 6
    new = run.support_model(np.zeros_like(support), [row[:] for row in start], 0.9)
    assert check(p, run.c.to_assignment(new))[1] == []
    assert all(t < 0 or start[s][d] == t for s, row in enumerate(new) for d, t in enumerate(row))
