"""Approved leave blocks roster days: an ``approvals.leave.approved`` event, delivered by the real
dispatcher, marks the days unavailable, clears them in a draft roster, and the next generation
keeps the person off. The approvals module registers the type; where it has not (yet), the test
registers a stand-in with the agreed payload so that publishing is validated as in production."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from medoa.core.audit.models import AuditEntry
from medoa.core.events.choices import DeliveryStatus
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Delivery
from medoa.core.events.registry import EventType, event_types
from medoa.core.events.services import publish
from medoa.modules.roster.choices import UnavailabilityKind
from medoa.modules.roster.models import RosterCell, Unavailability
from medoa.modules.roster.selectors import roster_grid

from .conftest import MONTH

LEAVE = "approvals.leave.approved"


class LeaveApproved(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_id: int
    staff: str
    department: str = ""
    leave_type: str = ""
    start_date: dt.date
    end_date: dt.date
    days: float = 0
    dates: list[dt.date]


@pytest.fixture
def leave_type() -> Iterator[None]:
    registered_here = LEAVE not in event_types
    if registered_here:
        event_types.register(EventType(LEAVE, LeaveApproved, label="leave approved (test stand-in)"))
    yield
    if registered_here:
        event_types.unregister(LEAVE)


def payload(username: str, dates: list[dt.date]) -> dict[str, Any]:
    return {
        "request_id": 41,
        "staff": username,
        "department": "CARD-W1",
        "leave_type": "annual",
        "start_date": dates[0].isoformat(),
        "end_date": dates[-1].isoformat(),
        "days": len(dates),
        "dates": [d.isoformat() for d in dates],
    }


def test_approved_leave_blocks_the_days(ward_factory: Any, leave_type: None) -> None:
    # given a draft roster where nurse 0 works the 10th and 11th
    w = ward_factory(["N3", "N2"])
    roster = w.roster()
    w.write(roster, {0: "AP"}, start=MONTH.replace(day=10))
    nurse = w.nurses[0]
    dates = [MONTH.replace(day=10), MONTH.replace(day=11)]

    # when the approval centre publishes the approved leave and the worker delivers it
    publish(LEAVE, payload(nurse.user.username, dates), key="leave:41:approved")
    dispatch_until_idle()

    # then the days are unavailable (leave), the draft cells are cleared, and the grid shows them blocked
    rows = list(Unavailability.objects.filter(staff=nurse).values_list("date", "kind", "reference"))
    assert rows == [(d, UnavailabilityKind.LEAVE, "leave:41") for d in dates]
    assert list(
        RosterCell.objects.filter(roster=roster, staff=nurse, date__in=dates).values_list(
            "shift_type", flat=True
        )
    ) == [None, None]
    grid = roster_grid(user=w.head.user, roster=roster)
    row = next(r for r in grid.rows if r.staff.pk == nurse.pk)
    assert [c["unavailable"] for c in row.cells[9:12]] == ["leave", "leave", ""]

    # and a second delivery of the same fact changes nothing
    publish(LEAVE, payload(nurse.user.username, dates), key="leave:41:approved")
    dispatch_until_idle()
    assert Unavailability.objects.filter(staff=nurse).count() == 2
    assert AuditEntry.objects.filter(action="roster.leave.blocked").count() == 1


def test_a_leave_day_worked_is_a_violation_on_the_cell(ward_factory: Any, leave_type: None) -> None:
    # given a published-like roster cell on a leave day (the head nurse's hand edit after the leave)
    w = ward_factory(["N3"])
    roster = w.roster()
    nurse = w.nurses[0]
    publish(LEAVE, payload(nurse.user.username, [MONTH.replace(day=10)]))
    dispatch_until_idle()
    w.write(roster, {0: "A"}, start=MONTH.replace(day=10))
    grid = roster_grid(user=w.head.user, roster=roster)
    cell = next(r for r in grid.rows if r.staff.pk == nurse.pk).cells[9]
    assert cell["reasons"] and cell["unavailable"] == "leave"


def test_an_event_for_an_unknown_person_is_ignored(ward_factory: Any, leave_type: None) -> None:
    ward_factory(["N3"])
    publish(LEAVE, payload("nobody_here", [MONTH.replace(day=10)]))
    dispatch_until_idle()
    delivery = Delivery.objects.get(subscriber="roster.block_leave_days")
    assert delivery.status == DeliveryStatus.DELIVERED
    assert not Unavailability.objects.exists()
