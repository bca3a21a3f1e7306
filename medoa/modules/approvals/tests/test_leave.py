"""Leave: the holiday calendar and working days, the policy's entitlements, balances checked at
submission (pending days count), deducted on approval, returned by 销假; the event for the roster;
automatic delegation while on leave; requests that follow a process withdrawn elsewhere."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.core.org.models import Delegation
from medoa.engines.flow import services as flow_services
from medoa.engines.flow.models import HumanTask
from medoa.modules.approvals import services
from medoa.modules.approvals.choices import HolidayKind, LedgerKind, RequestStatus
from medoa.modules.approvals.errors import ApprovalConflict, ApprovalInputError, ApprovalPermissionDenied
from medoa.modules.approvals.models import ApprovalRequest, LeaveBalance, LeaveLedgerEntry
from medoa.modules.approvals.policy import annual_days
from medoa.modules.approvals.selectors import leave_balances
from medoa.modules.approvals.workdays import working_dates, working_days

from .conftest import approve_all, open_tasks

pytestmark = pytest.mark.django_db


# --- the calendar --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        ("2026-03-02", "2026-03-06", 5),  # Monday to Friday
        ("2026-03-06", "2026-03-09", 2),  # Friday over the weekend to Monday
        ("2026-03-07", "2026-03-08", 0),  # a weekend
        ("2026-04-03", "2026-04-07", 2),  # 清明 04-04..06: Friday 03 and Tuesday 07
        ("2026-09-28", "2026-10-10", 6),  # 国庆 10-01..07 off, 10-10 (Saturday) made up
        ("2026-01-01", "2026-01-04", 1),  # 元旦 01-01..03 off, 01-04 (Sunday) made up
        ("2026-02-14", "2026-02-28", 6),  # 02-14 made up, 春节 02-15..23 off, 24..27, 02-28 made up
        ("2026-03-06", "2026-03-02", 0),  # backwards
    ],
)
def test_working_days_follow_the_2026_calendar(
    installed: SimpleNamespace, start: str, end: str, days: int
) -> None:
    assert working_days(datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)) == days


def test_the_calendar_is_configurable(installed: SimpleNamespace) -> None:
    monday, saturday = datetime.date(2026, 3, 2), datetime.date(2026, 3, 7)

    services.holiday_set(actor=installed.hr.user, day=monday, kind=HolidayKind.HOLIDAY, name="院庆")
    services.holiday_set(actor=installed.hr.user, day=saturday, kind=HolidayKind.WORKDAY, name="补班")

    assert working_dates(monday, saturday) == [datetime.date(2026, 3, d) for d in (3, 4, 5, 6, 7)]
    with pytest.raises(ApprovalPermissionDenied):
        services.holiday_set(actor=installed.nurse.user, day=monday, kind=HolidayKind.WORKDAY)


# --- the policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("years", "days"), [(0, 0), (1, 5), (9, 5), (10, 10), (19, 10), (20, 15), (35, 15)])
def test_annual_leave_by_seniority(years: int, days: int) -> None:
    assert annual_days(years) == Decimal(days)


def test_balances_per_type_from_the_policy(installed: SimpleNamespace) -> None:
    rows = {r.leave_type: r for r in leave_balances(staff=installed.clerk, year=2026)}

    # hired 2000: 26 years of work
    assert (rows["annual"].entitled, rows["compensatory"].entitled, rows["marriage"].entitled) == (15, 0, 3)
    assert rows["sick"].entitled is None and rows["personal"].entitled is None
    assert rows["maternity"].entitled == 158


# --- balances at submission, approval, cancel-leave ---------------------------------------------


def test_pending_days_count_against_the_balance(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    # nurse2 was hired in September 2024: one full year by 2026, 5 days of annual leave
    submit(installed.nurse2, "2026-03-02", "2026-03-04")  # 3 days, in approval

    with pytest.raises(ApprovalInputError) as err:
        submit(installed.nurse2, "2026-03-09", "2026-03-11")  # 3 more: 6 > 5

    assert err.value.field == "data.leave_type"
    assert "2 天" in str(err.value.message) or "2 days" in str(err.value.message)
    assert ApprovalRequest.objects.count() == 1


def test_compensatory_leave_needs_granted_days(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    with pytest.raises(ApprovalInputError):
        submit(installed.doctor, "2026-03-02", "2026-03-02", "compensatory")

    services.balance_adjust(
        actor=installed.hr.user,
        staff=installed.doctor,
        leave_type="compensatory",
        year=2026,
        days=Decimal(2),
        note="春节加班",
    )

    assert submit(installed.doctor, "2026-03-02", "2026-03-03", "compensatory").leave.days == 2


def test_approval_deducts_and_publishes_the_days_for_the_roster(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    request = submit(installed.nurse, "2026-04-02", "2026-04-08")  # 04-04..06 清明: 4 working days

    assert approve_all(request) == ["head_nurse", "nursing", "vp"]

    balance = LeaveBalance.objects.get(staff=installed.nurse, leave_type="annual", year=2026)
    assert (balance.entitled, balance.used) == (Decimal(10), Decimal(4))
    assert list(LeaveLedgerEntry.objects.filter(balance=balance).values_list("kind", "days")) == [
        (LedgerKind.GRANT, Decimal(10)),
        (LedgerKind.DEDUCT, Decimal(4)),
    ]
    event = Event.objects.get(type="approvals.leave.approved")
    assert event.payload == {
        "request_id": request.pk,
        "staff": "nurse",
        "department": "CARD-W1",
        "leave_type": "annual",
        "start_date": "2026-04-02",
        "end_date": "2026-04-08",
        "days": 4,
        "dates": ["2026-04-02", "2026-04-03", "2026-04-07", "2026-04-08"],
    }


def test_a_rejection_takes_nothing_and_frees_the_days(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    request = submit(installed.nurse2, "2026-03-02", "2026-03-06")  # all 5 days
    task = open_tasks(request)[0]

    flow_services.task_act(actor=installed.head_nurse.user, task=task.pk, action="reject", comment="人手不够")

    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    assert LeaveBalance.objects.get(staff=installed.nurse2, leave_type="annual", year=2026).used == 0
    assert not Event.objects.filter(type="approvals.leave.approved").exists()
    assert submit(installed.nurse2, "2026-03-09", "2026-03-13").leave.days == 5


def test_cancel_leave_returns_the_unused_working_days(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    request = submit(installed.doctor, "2026-03-02", "2026-03-06")
    approve_all(request)

    record = services.leave_resume(
        actor=installed.doctor.user, request=request, resumed_on=datetime.date(2026, 3, 5)
    )

    assert (record.returned_days, record.resumed_on) == (2, datetime.date(2026, 3, 5))
    assert LeaveBalance.objects.get(staff=installed.doctor, leave_type="annual", year=2026).used == 3
    resumed = Event.objects.get(type="approvals.leave.resumed")
    assert resumed.payload["dates"] == ["2026-03-05", "2026-03-06"]
    with pytest.raises(ApprovalConflict):
        services.leave_resume(
            actor=installed.doctor.user, request=request, resumed_on=datetime.date(2026, 3, 6)
        )


def test_cancel_before_the_leave_starts_returns_everything(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    request = submit(installed.doctor, "2026-03-02", "2026-03-06")
    approve_all(request)

    services.leave_resume(actor=installed.doctor.user, request=request, resumed_on=datetime.date(2026, 2, 27))

    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    assert LeaveBalance.objects.get(staff=installed.doctor, leave_type="annual", year=2026).used == 0


def test_overlapping_leave_is_refused(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    submit(installed.doctor, "2026-03-02", "2026-03-04")

    with pytest.raises(ApprovalInputError) as err:
        submit(installed.doctor, "2026-03-04", "2026-03-05", "personal")

    assert err.value.field == "data.start_date"


def test_sick_leave_needs_an_attachment(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    with pytest.raises(ApprovalInputError) as err:
        submit(installed.doctor, "2026-03-02", "2026-03-02", "sick")

    assert err.value.field == "data.attachments"


# --- automatic delegation while on leave ---------------------------------------------------------


def test_approved_leave_delegates_the_approvers_tasks_for_its_dates(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    services.auto_delegation_set(actor=installed.head.user, delegate=installed.doctor)
    request = submit(installed.head, "2026-12-01", "2026-12-02")

    assert approve_all(request) == ["vp"]  # his own step passes on to the vice dean

    delegation = Delegation.objects.get(delegator=installed.head)
    assert delegation.delegate == installed.doctor
    assert timezone.localtime(delegation.ends_at).date() == datetime.date(2026, 12, 3)
    services.leave_resume(actor=installed.head.user, request=request, resumed_on=datetime.date(2026, 12, 1))
    delegation.refresh_from_db()
    assert delegation.revoked_at is not None


# --- requests follow their process ---------------------------------------------------------------


def test_a_process_cancelled_in_the_engine_withdraws_the_request(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    request = submit(installed.nurse2, "2026-03-02", "2026-03-06")
    assert request.process_instance is not None
    flow_services.instance_cancel(actor=installed.nurse2.user, instance=request.process_instance)

    assert services.requests_sync_ended() == 1

    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    assert not HumanTask.objects.filter(instance=request.process_instance, status="open").exists()
    assert submit(installed.nurse2, "2026-03-02", "2026-03-06").leave.days == 5


# --- time limits ---------------------------------------------------------------------------------


def test_each_step_is_due_in_two_days_with_a_reminder_and_escalation(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    request = submit(installed.doctor, "2026-03-02", "2026-03-03")
    task = open_tasks(request)[0]
    assert task.due_at is not None
    assert abs(task.due_at - task.created_at - datetime.timedelta(days=2)) < datetime.timedelta(seconds=5)

    flow_services.flow_tick(now=task.due_at - datetime.timedelta(hours=3))
    flow_services.flow_tick(now=task.due_at + datetime.timedelta(minutes=1))

    kinds = list(
        Notification.objects.filter(
            recipient=installed.head.user, kind__in=("flow.reminder", "flow.escalation")
        )
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["flow.reminder", "flow.reminder"]  # due soon, then overdue
    # the head of 心血管内科's leader one level up (the vice dean heading 临床科室) hears of it
    assert Notification.objects.filter(recipient=installed.vp.user, kind="flow.escalation").count() == 1


def test_a_delegation_that_cannot_be_made_leaves_the_approval_standing(
    installed: SimpleNamespace, submit: Callable[..., ApprovalRequest]
) -> None:
    services.auto_delegation_set(actor=installed.head.user, delegate=installed.doctor)
    installed.doctor.status = "left"
    installed.doctor.save(update_fields=["status"])
    request = submit(installed.head, "2026-12-01", "2026-12-02")

    approve_all(request)

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert "auto_delegation_error" in request.data
    assert not Delegation.objects.filter(delegator=installed.head).exists()
    assert (
        Notification.objects.filter(recipient=installed.head.user, kind="approvals.delegation").count() == 1
    )
