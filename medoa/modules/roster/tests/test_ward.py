"""Ward-level details: doctors on a roster with a title skill mix, a second generation refused
while one runs, and the grid's query count independent of the ward's size."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from medoa.core.org.tests.factories import StaffFactory
from medoa.modules.roster import services
from medoa.modules.roster.errors import RosterConflict, RosterInputError
from medoa.modules.roster.models import Demand, Roster, RosterCell
from medoa.modules.roster.selectors import roster_check, roster_grid

from .conftest import MONTH

D10 = dt.date(2026, 12, 10)


def test_doctors_on_a_roster_with_an_attending_or_above_every_night(ward_factory: Any) -> None:
    w = ward_factory(["N3"])
    resident = StaffFactory(department=w.dept, title="resident", name="住院医师甲")
    attending = StaffFactory(department=w.dept, title="attending", name="主治医师乙")
    outsider = StaffFactory(title="attending")
    services.profile_add(actor=w.head.user, ward=w.ward, staff=resident)
    services.profile_add(actor=w.head.user, ward=w.ward, staff=attending)
    with pytest.raises(RosterInputError):
        services.profile_add(actor=w.head.user, ward=w.ward, staff=outsider)
    services.demand_set(
        actor=w.head.user,
        ward=w.ward,
        code="N",
        on_date=D10,
        minimum=1,
        preferred=1,
        skill_level="attending",
        skill_minimum=1,
    )
    roster = w.roster()
    night = w.shift("N")

    RosterCell.objects.create(roster=roster, staff=resident, date=D10, shift_type=night)
    _wm, _o, violations, _b = roster_check(roster)
    assert [v.code for v in violations] == ["skill_mix"]

    RosterCell.objects.filter(roster=roster).update(staff=attending)
    _wm, _o, violations, _b = roster_check(roster)
    assert violations == []
    assert Demand.objects.get(on_date=D10).skill_level == "attending"


def test_a_roster_being_generated_refuses_a_second_generation_and_edits(ward_factory: Any) -> None:
    w = ward_factory(["N3"])
    roster = services.roster_open(actor=w.head.user, ward=w.ward, month=MONTH)
    Roster.objects.filter(pk=roster.pk).update(generating=True)
    with pytest.raises(RosterConflict):
        services.roster_generate(actor=w.head.user, roster=roster, time_limit=2)
    with pytest.raises(RosterConflict):
        services.cell_set(actor=w.head.user, roster=roster, staff_id=w.nurses[0].pk, day=MONTH, code="A")
    assert not RosterCell.objects.exists()
    roster.refresh_from_db()
    assert roster.generating is True


def _grid_queries(w: Any) -> int:
    roster = w.roster()
    w.write(roster, dict.fromkeys(range(len(w.nurses)), "APN..A"))
    with CaptureQueriesContext(connection) as ctx:
        roster_grid(user=w.head.user, roster=roster)
    return len(ctx.captured_queries)


def test_the_grid_needs_as_many_queries_for_eight_nurses_as_for_two(ward_factory: Any) -> None:
    small = _grid_queries(ward_factory(["N3", "N1"]))
    large = _grid_queries(ward_factory(["N3"] * 8, code="RESP"))
    assert large == small
