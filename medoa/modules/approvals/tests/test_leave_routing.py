"""Leave routing as a table: who asks, how many working days → the chain of approvers."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from medoa.modules.approvals.choices import RequestStatus
from medoa.modules.approvals.models import ApprovalRequest

from .conftest import approve_all

# 2026-03-02 is a Monday; no holidays in March. Working days: 03-02..03-03 = 2, 03-02..03-06 = 5,
# 03-02..03-23 = 16.
PERIODS = {2: ("2026-03-02", "2026-03-03"), 5: ("2026-03-02", "2026-03-06"), 16: ("2026-03-02", "2026-03-23")}

ROUTING = [
    ("nurse", 2, ["head_nurse"]),
    ("nurse", 5, ["head_nurse", "nursing", "vp"]),
    ("nurse", 16, ["head_nurse", "nursing", "vp", "dean"]),
    ("doctor", 2, ["head"]),
    ("doctor", 5, ["head", "vp"]),
    ("doctor", 16, ["head", "vp", "dean"]),
    ("clerk", 5, ["hr", "vp2"]),
    # no self-approval: the head nurse's and the department head's own step passes to the next level
    ("head_nurse", 2, ["nursing"]),
    ("head_nurse", 5, ["nursing", "vp"]),
    ("head", 2, ["vp"]),
    ("head", 16, ["vp", "dean"]),
    ("nursing", 2, ["vp2"]),
    ("vp", 2, ["dean"]),
]


@pytest.mark.parametrize(("who", "days", "chain"), ROUTING)
def test_leave_routing(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest], who: str, days: int, chain: list[str]
) -> None:
    start, end = PERIODS[days]
    leave_type = "annual" if days <= 5 else "personal"

    request = submit(getattr(installed, who), start, end, leave_type)

    assert request.leave.days == days
    assert approve_all(request) == chain
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
