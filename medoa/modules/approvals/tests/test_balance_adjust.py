"""人事处's page for adjusting a person's leave balance (reason required, ledger, audit), and the
people lookup behind @mention autocomplete."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Staff
from medoa.modules.approvals.models import LeaveBalance, LeaveLedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(db: Any) -> Callable[[Staff], Client]:
    def make(staff: Staff) -> Client:
        client = Client()
        client.force_login(staff.user)
        return client

    return make


def test_hr_adds_compensatory_days_with_a_reason(
    installed: SimpleNamespace, as_user: Callable[[Staff], Client]
) -> None:
    hr = as_user(installed.hr)
    page = hr.get("/approvals/leave/adjust/?staff=doctor&year=2026")
    assert page.status_code == 200
    assert "医生" in page.content.decode() and 'id="adjust-form"' in page.content.decode()

    refused = hr.post(
        "/approvals/leave/adjust/",
        {"staff": "doctor", "year": "2026", "leave_type": "compensatory", "days": "2", "note": ""},
    )
    assert refused.status_code == 400
    assert 'data-field="note"' in refused.content.decode()
    assert not LeaveLedgerEntry.objects.filter(kind="adjust").exists()

    done = hr.post(
        "/approvals/leave/adjust/",
        {
            "staff": "doctor",
            "year": "2026",
            "leave_type": "compensatory",
            "days": "2",
            "note": "春节值班加班",
        },
    )
    assert done.status_code == 302
    balance = LeaveBalance.objects.get(staff=installed.doctor, leave_type="compensatory", year=2026)
    assert balance.entitled == Decimal(2)
    entry = LeaveLedgerEntry.objects.get(kind="adjust")
    assert entry.note == "春节值班加班" and entry.actor == installed.hr.user
    assert AuditEntry.objects.filter(action="approvals.balance.adjusted").count() == 1
    ledger = hr.get(done["Location"]).content.decode()
    assert "春节值班加班" in ledger and "人事处长" in ledger

    too_much = hr.post(
        "/approvals/leave/adjust/",
        {"staff": "doctor", "year": "2026", "leave_type": "compensatory", "days": "-5", "note": "更正"},
    )
    assert too_much.status_code == 400 and 'data-field="days"' in too_much.content.decode()


def test_only_hr_may_adjust(installed: SimpleNamespace, as_user: Callable[[Staff], Client]) -> None:
    assert as_user(installed.head).get("/approvals/leave/adjust/").status_code == 403
    assert (
        as_user(installed.doctor).get("/approvals/leave/balances/").content.decode().count("adjust-link") == 0
    )
    assert "adjust-link" in as_user(installed.hr).get("/approvals/leave/balances/").content.decode()


def test_people_lookup_for_mentions(installed: SimpleNamespace, as_user: Callable[[Staff], Client]) -> None:
    body = as_user(installed.doctor).get("/approvals/people/?q=护士").json()

    usernames = {p["username"] for p in body["results"]}
    assert {"nurse", "nurse2", "head_nurse"} <= usernames
    assert all(set(p) == {"username", "name", "department"} for p in body["results"])
    assert as_user(installed.doctor).get("/approvals/people/?q=").json() == {"results": []}
