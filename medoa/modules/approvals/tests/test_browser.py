"""On a phone (390×844), through Debian's chromium under the real CSP: a nurse asks for 5 working
days of annual leave; her approvers — the head nurse, 护理部 and the vice dean in charge (the
routing for nursing staff over 3 days) — approve on their phones with one tap and a comment; the
nurse sees the request approved, the chain drawn out, and her annual balance reduced by 5.

Screenshots go to test-artifacts/approvals-*.png. Any console error or page error fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.tests.browser import BrowserSession, sessions
from medoa.modules.approvals.models import ApprovalRequest, LeaveBalance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Phone(BrowserSession):
    prefix = "approvals"
    width = 390
    height = 844


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Callable[..., Phone]]:
    yield from sessions(Phone, browser, live_server)


def test_nurse_leave_approved_on_phones(
    phone: Callable[..., Phone], installed: SimpleNamespace, password: str
) -> None:
    nurse = phone()
    nurse.sign_in("nurse", password)
    nurse.go("/approvals/")
    nurse.shot("centre")
    nurse.page.click('a[data-type="leave"]')
    page = nurse.page
    page.select_option("#leave_type", "annual")
    page.fill("#start_date", "2026-12-07")
    page.fill("#end_date", "2026-12-11")
    page.fill("#reason", "回老家探亲")
    nurse.wait_text("#working-days", "5")
    nurse.shot("leave-form")
    page.click("#submit-request")
    page.wait_for_selector("#chain")
    assert "护士长审批" in page.locator("#chain").inner_text()
    request = ApprovalRequest.objects.get()
    assert request.leave.days == 5

    for username, step in (("head_nurse", "护士长审批"), ("nursing", "护理部审批"), ("vp", "分管院长审批")):
        approver = phone()
        approver.sign_in(username, password)
        approver.go("/approvals/todo/")
        approver.page.click(f'li[data-request="{request.pk}"] a.approvals-item-main')
        approver.page.wait_for_selector("#approve-button")
        assert step in approver.page.locator("#decide h2").inner_text()
        approver.page.fill("#decide-comment", "同意，注意交接班")
        approver.shot(f"decide-{username}")
        approver.page.click("#approve-button")
        approver.page.wait_for_selector(".messages")
        assert approver.page.locator("#approve-button").count() == 0

    nurse.go(f"/approvals/requests/{request.pk}/")
    assert nurse.page.locator("#request-status").inner_text() == "已批准"
    chain = nurse.page.locator("#chain").inner_text()
    for who in ("护士长", "护理部主任", "分管医疗副院长"):
        assert who in chain
    nurse.shot("approved")
    nurse.go("/approvals/leave/balances/?year=2026")
    available = nurse.page.locator(
        '#balances-table tr[data-leave-type="annual"] .balance-available'
    ).inner_text()
    assert available == "5"  # 10 days (hired 2015) − 5
    nurse.shot("balances")
    assert LeaveBalance.objects.get(staff=installed.nurse, leave_type="annual", year=2026).used == 5
