"""Two leave requests of one person at once that together exceed the balance: the balance row is
locked while pending days are counted, so exactly one is accepted (PostgreSQL: one connection per
thread, real row locks)."""

from __future__ import annotations

import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection

from medoa.modules.approvals import services
from medoa.modules.approvals.errors import ApprovalInputError
from medoa.modules.approvals.models import ApprovalRequest, LeaveBalance

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


@pytest.mark.parametrize("first_time", [True, False])
def test_two_requests_at_once_cannot_both_take_the_last_days(
    installed: SimpleNamespace, first_time: bool
) -> None:
    nurse = installed.nurse2  # 5 days of annual leave in 2026
    if not first_time:
        services.balances_seed(year=2026, staff=[nurse])
    periods = [("2026-03-02", "2026-03-04"), ("2026-03-09", "2026-03-11")]  # 3 + 3 > 5
    barrier = threading.Barrier(len(periods))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(start: str, end: str) -> None:
        try:
            barrier.wait(timeout=30)
            data: dict[str, Any] = {
                "leave_type": "annual",
                "start_date": start,
                "end_date": end,
                "reason": "事",
            }
            try:
                services.request_submit(actor=nurse.user, type_key="leave", data=data)
                result = "ok"
            except ApprovalInputError as exc:
                result = f"refused:{exc.field}"
            except Exception as exc:  # a deadlock would show here
                result = f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=p) for p in periods]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert Counter(outcomes) == Counter({"ok": 1, "refused:data.leave_type": 1})
    assert ApprovalRequest.objects.count() == 1
    assert LeaveBalance.objects.filter(staff=nurse, leave_type="annual", year=2026).count() == 1
