"""The approval centre's pages: catalog with search, starting leave, the request page with its
chain, one-tap decisions, batch approval, balances, the holiday calendar."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.org.models import Staff
from medoa.modules.approvals.choices import RequestStatus
from medoa.modules.approvals.models import ApprovalRequest, AutoDelegation, Holiday

from .conftest import open_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(db: Any) -> Callable[[Staff | None], Client]:
    def make(staff: Staff | None) -> Client:
        client = Client()
        if staff is not None:
            client.force_login(staff.user)
        return client

    return make


def test_centre_lists_the_catalog_and_searches(
    installed: SimpleNamespace, as_user: Callable[[Staff | None], Client]
) -> None:
    page = as_user(installed.nurse).get("/approvals/")
    found = as_user(installed.nurse).get("/approvals/?q=年假")
    nothing = as_user(installed.nurse).get("/approvals/?q=不存在的东西")

    assert page.status_code == 200
    assert 'data-type="leave"' in page.content.decode()
    assert 'data-type="leave"' in found.content.decode()
    assert 'data-type="leave"' not in nothing.content.decode()
    assert as_user(None).get("/approvals/").status_code == 302


def test_leave_page_submits_and_shows_field_errors(
    installed: SimpleNamespace, as_user: Callable[[Staff | None], Client]
) -> None:
    client = as_user(installed.doctor)
    bad = client.post(
        "/approvals/new/leave/",
        {"leave_type": "annual", "start_date": "2026-03-07", "end_date": "2026-03-08", "reason": "休息"},
    )
    good = client.post(
        "/approvals/new/leave/",
        {"leave_type": "annual", "start_date": "2026-03-02", "end_date": "2026-03-03", "reason": "休息"},
    )

    assert bad.status_code == 200
    assert 'data-field="end_date"' in bad.content.decode()
    request = ApprovalRequest.objects.get()
    assert good.status_code == 302
    assert good["Location"] == f"/approvals/requests/{request.pk}/"


def test_request_page_and_one_tap_approval(
    installed: SimpleNamespace,
    as_user: Callable[[Staff | None], Client],
    submit: Callable[..., ApprovalRequest],
) -> None:
    request = submit(installed.doctor, "2026-03-02", "2026-03-03")
    head = as_user(installed.head)

    page = head.get(f"/approvals/requests/{request.pk}/")
    assert page.status_code == 200
    assert 'id="approve-button"' in page.content.decode()
    assert as_user(installed.nurse).get(f"/approvals/requests/{request.pk}/").status_code == 404
    refused = head.post(f"/approvals/requests/{request.pk}/decide/", {"action": "reject", "comment": ""})
    assert refused.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED

    head.post(f"/approvals/requests/{request.pk}/decide/", {"action": "approve", "comment": "同意"})

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    mine = as_user(installed.doctor).get(f"/approvals/requests/{request.pk}/").content.decode()
    assert 'data-state="done"' in mine
    assert "同意" in mine


def test_todo_box_batch_approves(
    installed: SimpleNamespace,
    as_user: Callable[[Staff | None], Client],
    submit: Callable[..., ApprovalRequest],
) -> None:
    first = submit(installed.nurse, "2026-03-02", "2026-03-02")
    second = submit(installed.nurse2, "2026-03-03", "2026-03-03")
    client = as_user(installed.head_nurse)
    todo = client.get("/approvals/todo/").content.decode()
    assert f'data-request="{first.pk}"' in todo and f'data-request="{second.pk}"' in todo

    task_ids = [open_tasks(first)[0].pk, open_tasks(second)[0].pk]
    client.post("/approvals/todo/batch/", {"task_ids": task_ids, "comment": "批量同意"})

    assert set(ApprovalRequest.objects.values_list("status", flat=True)) == {RequestStatus.APPROVED}


def test_balances_page_and_auto_delegation(
    installed: SimpleNamespace, as_user: Callable[[Staff | None], Client]
) -> None:
    client = as_user(installed.head)

    page = client.get("/approvals/leave/balances/?year=2026")
    client.post("/approvals/leave/delegation/", {"delegate": "doctor"})

    assert page.status_code == 200
    assert 'data-leave-type="annual"' in page.content.decode()
    assert AutoDelegation.objects.get(staff=installed.head).delegate == installed.doctor


def test_holiday_calendar_page_is_for_hr(
    installed: SimpleNamespace, as_user: Callable[[Staff | None], Client]
) -> None:
    assert as_user(installed.nurse).get("/approvals/calendar/").status_code == 403
    client = as_user(installed.hr)

    page = client.get("/approvals/calendar/?year=2026")
    client.post("/approvals/calendar/", {"date": "2026-12-31", "kind": "holiday", "name": "院庆"})

    assert page.status_code == 200
    assert 'data-date="2026-10-10"' in page.content.decode()
    assert Holiday.objects.get(date="2026-12-31").name == "院庆"


def test_working_days_helper(installed: SimpleNamespace, as_user: Callable[[Staff | None], Client]) -> None:
    body = (
        as_user(installed.nurse).get("/approvals/leave/working-days/?start=2026-02-09&end=2026-02-28").json()
    )

    # 02-09..02-13 (5), 02-14 made up (Saturday), 02-15..02-23 Spring Festival, 02-24..02-27 (4),
    # 02-28 made up (Saturday)
    assert body == {"days": 11}


def test_every_installed_type_has_a_start_page(
    installed: SimpleNamespace, as_user: Callable[[Staff | None], Client]
) -> None:
    from medoa.modules.approvals import services
    from medoa.modules.approvals.catalog import request_types

    services.models_install(actor=installed.admin.user)
    client = as_user(installed.doctor)

    pages = {t.key: client.get(f"/approvals/new/{t.key}/").status_code for t in request_types}

    assert set(pages.values()) == {200}, pages
    assert client.get("/approvals/new/nothing/").status_code == 404


def test_the_workbench_card_counts_my_approvals(
    installed: SimpleNamespace,
    as_user: Callable[[Staff | None], Client],
    submit: Callable[..., ApprovalRequest],
) -> None:
    submit(installed.doctor, "2026-03-02", "2026-03-03")

    page = as_user(installed.head).get("/").content.decode()

    assert "approvals-card" in page
    assert "<strong>1</strong>" in page


def test_a_box_page_costs_the_same_for_one_request_as_for_five(
    installed: SimpleNamespace,
    as_user: Callable[[Staff | None], Client],
    submit: Callable[..., ApprovalRequest],
    django_assert_max_num_queries: Any,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(installed.nurse)
    submit(installed.nurse, "2026-03-02", "2026-03-02")
    client.get("/approvals/mine/")
    with CaptureQueriesContext(connection) as one:
        client.get("/approvals/mine/")
    for day in ("03", "04", "05", "06"):
        submit(installed.nurse, f"2026-03-{day}", f"2026-03-{day}")

    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get("/approvals/mine/").content.decode()
    assert page.count("approvals-item-main") == 5
