"""出差 Business trip routing: days and abroad → the chain of approvers (real instances through the
engine, each step decided by the person it is assigned to)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, open_steps, submit

pytestmark = pytest.mark.django_db

DEPT_HEAD = "科室负责人审批"
VICE_DEAN = "分管副院长审批"


def trip(start: str, end: str, *, abroad: bool = False, cost: float = 1800) -> dict[str, Any]:
    return {
        "destination": "上海" if not abroad else "新加坡",
        "abroad": abroad,
        "purpose": "参加中华医学会心血管病学分会年会",
        "start_date": start,
        "end_date": end,
        "transport": "plane",
        "estimated_cost": cost,
    }


@pytest.mark.parametrize(
    ("start", "end", "abroad", "decisions", "chain", "status"),
    [
        # 1 day, in China: the department head alone
        ("2026-12-01", "2026-12-01", False, {}, [(DEPT_HEAD, "head")], "approved"),
        # exactly 5 days: still the department head alone
        ("2026-12-01", "2026-12-05", False, {}, [(DEPT_HEAD, "head")], "approved"),
        # 6 days → then the vice dean
        ("2026-12-01", "2026-12-06", False, {}, [(DEPT_HEAD, "head"), (VICE_DEAN, "vice")], "approved"),
        # abroad, 2 days → then the vice dean
        ("2026-12-01", "2026-12-02", True, {}, [(DEPT_HEAD, "head"), (VICE_DEAN, "vice")], "approved"),
        # the department head refuses a long trip: it ends there
        ("2026-12-01", "2026-12-20", False, {"head": "reject"}, [(DEPT_HEAD, "head")], "rejected"),
        # the vice dean refuses
        (
            "2026-12-01",
            "2026-12-03",
            True,
            {"vice": "reject"},
            [(DEPT_HEAD, "head"), (VICE_DEAN, "vice")],
            "rejected",
        ),
    ],
)
def test_business_trip_routing(
    people: SimpleNamespace,
    start: str,
    end: str,
    abroad: bool,
    decisions: dict[str, str],
    chain: list[tuple[str, str]],
    status: str,
) -> None:
    install(people, "business_trip")
    request = submit(people.doctor, "business_trip", trip(start, end, abroad=abroad))

    assert decide_all(request, decisions) == chain
    assert request.status == status


def test_business_trip_first_step_and_variables(people: SimpleNamespace) -> None:
    install(people, "business_trip")
    request = submit(people.doctor, "business_trip", trip("2026-12-01", "2026-12-07", cost=1234.5))

    assert open_steps(request) == [(DEPT_HEAD, ["head"])]
    variables = request.process_instance.variables
    assert (variables["days"], variables["abroad"], variables["estimated_cost"]) == (7, False, 1234.5)
    assert request.summary == "出差 上海 7天 12-01~12-07 ¥1,234.50"


def test_a_nurse_of_a_ward_goes_to_the_department_head_above(people: SimpleNamespace) -> None:
    install(people, "business_trip")
    request = submit(people.nurse, "business_trip", trip("2026-12-01", "2026-12-02"))

    assert decide_all(request) == [(DEPT_HEAD, "head")]


def test_the_department_head_goes_to_the_leader_above(people: SimpleNamespace) -> None:
    """leader:1 passes over the initiator: the head of 心血管内科 asks the hospital's head (the dean)."""
    install(people, "business_trip")
    request = submit(people.head, "business_trip", trip("2026-12-01", "2026-12-08"))

    assert decide_all(request) == [(DEPT_HEAD, "dean"), (VICE_DEAN, "vice")]
    assert request.status == "approved"


def test_no_self_approval_a_vice_deans_long_trip_goes_to_the_dean(people: SimpleNamespace) -> None:
    install(people, "business_trip")
    request = submit(people.vice, "business_trip", trip("2026-12-01", "2026-12-08"))

    assert decide_all(request) == [(DEPT_HEAD, "dean"), (VICE_DEAN, "dean")]
    assert request.status == "approved"


def test_the_vice_dean_in_charge_of_the_department_decides(
    people: SimpleNamespace, hospital: SimpleNamespace
) -> None:
    """With two vice deans, the one heading 临床科室 (above 心血管内科) gets the step, not the other."""
    from medoa.core.org.tests.factories import person_maker

    person_maker(default=hospital.root, root=hospital.root)("vice_dean", username="vice2", name="郑副院长")
    hospital.clinical.head = people.vice
    hospital.clinical.save(update_fields=["head"])
    install(people, "business_trip")
    request = submit(people.doctor, "business_trip", trip("2026-12-01", "2026-12-10"))

    assert decide_all(request) == [(DEPT_HEAD, "head"), (VICE_DEAN, "vice")]
