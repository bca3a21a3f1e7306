"""When the hard rules cannot all hold, the roster still comes back — the best one found — with
the rules, people and days in conflict named in words on the grid."""

from __future__ import annotations

from typing import Any

from medoa.modules.roster import services
from medoa.modules.roster.selectors import roster_grid

from .conftest import MONTH


def test_infeasibility_is_explained(ward_factory: Any) -> None:
    # given two nurses and a ward that wants three on every night (hard minimum)
    w = ward_factory(["N3", "N2"])
    w.demand("N", 3, 3)
    roster = services.roster_open(actor=w.head.user, ward=w.ward, month=MONTH)

    # when the head nurse generates
    roster = services.roster_generate(actor=w.head.user, roster=roster, time_limit=3)

    # then the solver says so, and the grid explains: the minimum cover, the ward, the days
    assert roster.solver_status == "infeasible"
    grid = roster_grid(user=w.head.user, roster=roster)
    assert grid.hard_count > 0
    assert {v.code for v in grid.violations} >= {"cover_minimum"}
    lines = grid.explanation
    assert lines
    assert any("12-01" in line for line in lines)
    cover = [v for v in grid.violations if v.code == "cover_minimum"]
    assert len({d for v in cover for d in v.dates}) == 31
