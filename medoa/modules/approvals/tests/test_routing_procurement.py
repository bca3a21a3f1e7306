"""采购 Procurement routing: 设备科, 财务处 and the vice dean countersign in parallel (all must
approve); a total above the leadership-meeting threshold goes on to 院长办公会."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, open_steps, submit

pytestmark = pytest.mark.django_db

SIGN = "采购会签"
COUNTERSIGN = [(SIGN, "equipment"), (SIGN, "finance"), (SIGN, "vice")]
MEETING = ("院长办公会审议", "dean")


def purchase(*lines: tuple[int, float]) -> dict[str, Any]:
    return {
        "budget_code": "2026-EQ-017",
        "reason": "心内科导管室设备更新",
        "items": [
            {"name": f"设备{n}", "spec": "", "quantity": q, "unit_price": p}
            for n, (q, p) in enumerate(lines, 1)
        ],
    }


def test_the_three_offices_countersign_at_once(people: SimpleNamespace) -> None:
    install(people, "procurement")
    request = submit(people.doctor, "procurement", purchase((2, 1500.0)))

    assert open_steps(request) == [(SIGN, ["equipment"]), (SIGN, ["finance"]), (SIGN, ["vice"])]


@pytest.mark.parametrize(
    ("lines", "decisions", "chain", "status"),
    [
        (((2, 1500.0),), {}, COUNTERSIGN, "approved"),
        (((4, 50000.0),), {}, COUNTERSIGN, "approved"),  # 200,000 exactly: no meeting
        (((4, 50000.0), (1, 0.01)), {}, [*COUNTERSIGN, MEETING], "approved"),  # 200,000.01
        (((1, 980000.0),), {"dean": "reject"}, [*COUNTERSIGN, MEETING], "rejected"),
        # one rejection ends the countersign: the vice dean's share closes unasked, no meeting
        (((1, 980000.0),), {"finance": "reject"}, [(SIGN, "equipment"), (SIGN, "finance")], "rejected"),
        (((3, 100.0),), {"equipment": "reject"}, [(SIGN, "equipment")], "rejected"),
    ],
)
def test_procurement_routing(
    people: SimpleNamespace,
    lines: tuple[tuple[int, float], ...],
    decisions: dict[str, str],
    chain: list[tuple[str, str]],
    status: str,
) -> None:
    install(people, "procurement")
    request = submit(people.doctor, "procurement", purchase(*lines))

    assert decide_all(request, decisions) == chain
    assert request.status == status


def test_the_meeting_threshold_is_a_setting(people: SimpleNamespace, settings: Any) -> None:
    settings.MEDOA_APPROVALS_PROCUREMENT_MEETING_THRESHOLD = 10000
    install(people, "procurement")
    request = submit(people.doctor, "procurement", purchase((3, 3333.34)))  # 10,000.02

    assert request.process_instance.variables["meeting_threshold"] == 10000
    assert decide_all(request) == [*COUNTERSIGN, MEETING]


def test_a_role_with_two_holders_makes_one_share_for_either(
    people: SimpleNamespace, hospital: SimpleNamespace
) -> None:
    from medoa.core.org.tests.factories import person_maker

    person_maker(default=hospital.FIN, root=hospital.root)("finance", username="finance2", name="王出纳")
    install(people, "procurement")
    request = submit(people.doctor, "procurement", purchase((1, 10.0)))

    assert open_steps(request) == [(SIGN, ["equipment"]), (SIGN, ["finance", "finance2"]), (SIGN, ["vice"])]


def test_a_vice_deans_own_purchase_is_countersigned_by_the_dean(people: SimpleNamespace) -> None:
    install(people, "procurement")
    request = submit(people.vice, "procurement", purchase((1, 10.0)))

    assert open_steps(request) == [(SIGN, ["dean"]), (SIGN, ["equipment"]), (SIGN, ["finance"])]
