"""hr.employee.hired: the payload schema (tolerant of what an HR system or an MFN^M02 STF segment
carries) and the subscriber that creates or updates the staff record and account."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.models import User
from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.choices import DeliveryStatus
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.errors import EventPayloadInvalid
from medoa.core.events.models import Delivery
from medoa.core.events.registry import event_types, subscribers
from medoa.core.org.choices import StaffStatus, Title
from medoa.core.org.hr_feed import EmployeeHired, HrFeedError, employee_hired_apply
from medoa.core.org.models import Staff

pytestmark = pytest.mark.django_db

HIRED = "hr.employee.hired"


def payload(**over: Any) -> dict[str, Any]:
    base = {
        "employee_no": "20250101",
        "name": "林晓",
        "department": "CARD",
        "position_kind": "doctor",
        "title": "住院医师",
        "hire_date": "2026-03-01",
        "email": "linxiao@hospital.example",
        "phone": "13800138000",
    }
    return {**base, **over}


def test_the_event_type_and_the_subscriber_are_registered() -> None:
    assert HIRED in event_types
    assert "org.hr_employee_hired" in [s.name for s in subscribers.for_type(HIRED)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"staff_id": "A7", "name": "王^小明", "department_code": "CARD", "title": "主治医师"},
            {"employee_no": "A7", "name": "王小明", "department": "CARD", "position_kind": "doctor"},
        ),
        (
            {"employee_number": "A8", "name": "Smith^John^Q", "department": "CARD", "position_kind": "RN"},
            {"employee_no": "A8", "name": "John Smith", "position_kind": "nurse"},
        ),
        (
            {"employee_no": "A9", "name": "张三", "department": "HR", "title": "supervisor_nurse"},
            {"position_kind": "nurse"},
        ),
        ({"employee_no": "A10", "name": "李四", "department": "HR"}, {"position_kind": "admin"}),
        (
            {"employee_no": "A11", "name": "赵六", "department": "HR", "position_kind": "行政", "extra": 1},
            {"position_kind": "admin"},
        ),
    ],
)
def test_the_schema_takes_what_hr_systems_and_mfn_messages_send(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    stored = event_types.get(HIRED).validate(given)
    for name, value in expected.items():
        assert stored[name] == value
    assert "extra" not in stored


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"name": "林晓", "department": "CARD"}, "payload.employee_no"),
        ({"employee_no": "1", "department": "CARD"}, "payload.name"),
        ({"employee_no": "12 34", "name": "林晓", "department": "CARD"}, "payload.employee_no"),
        ({"employee_no": "1", "name": "林晓"}, "payload.department"),
        (
            {"employee_no": "1", "name": "林晓", "department": "CARD", "position_kind": "pilot"},
            "payload.position_kind",
        ),
        (
            {"employee_no": "1", "name": "林晓", "department": "CARD", "hire_date": "next week"},
            "payload.hire_date",
        ),
    ],
)
def test_a_payload_missing_what_matters_is_refused_naming_the_field(
    given: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventPayloadInvalid) as info:
        publish(HIRED, given)
    assert info.value.field == field


def test_a_hire_creates_the_staff_record_and_an_account(tree: SimpleNamespace) -> None:
    # Given
    publish(HIRED, payload(), key="hr:20250101", actor_name="key:HR feed")
    # When
    dispatch_until_idle()
    # Then
    staff = Staff.objects.select_related("user").get(employee_no="20250101")
    assert staff.name == "林晓"
    assert staff.department == tree.cardio
    assert staff.title == Title.RESIDENT
    assert staff.hire_date == datetime.date(2026, 3, 1)
    assert staff.email == "linxiao@hospital.example"
    assert staff.phone == "13800138000"
    assert staff.status == StaffStatus.ACTIVE
    user = staff.user
    assert user.username == "20250101"
    assert user.is_active and not user.has_usable_password() and user.must_change_password
    entry = AuditEntry.objects.get(action="org.staff.hired")
    assert entry.actor_name == "key:HR feed"
    assert entry.details["username"] == "20250101" and entry.details["department"] == "CARD"
    assert Delivery.objects.get(subscriber="org.hr_employee_hired").status == DeliveryStatus.DELIVERED


def test_the_same_employee_again_updates_and_never_duplicates(tree: SimpleNamespace) -> None:
    publish(HIRED, payload())
    dispatch_until_idle()
    # When the feed sends the same person again, moved and promoted
    publish(HIRED, payload(department="SURG", title="主治医师", email=""))
    dispatch_until_idle()
    # Then
    assert Staff.objects.filter(employee_no="20250101").count() == 1
    assert User.objects.filter(username__startswith="20250101").count() == 1
    staff = Staff.objects.get(employee_no="20250101")
    assert staff.department == tree.surgery and staff.title == Title.ATTENDING
    assert staff.email == "linxiao@hospital.example"  # not given: kept
    entry = AuditEntry.objects.get(action="org.staff.updated")
    assert entry.details["fields"] == ["department", "title"]


def test_a_repeat_with_nothing_new_changes_nothing(tree: SimpleNamespace) -> None:
    data = EmployeeHired.model_validate(payload())
    first = employee_hired_apply(data=data)
    second = employee_hired_apply(data=data)
    assert first.created and not second.created and second.changed == ()
    assert AuditEntry.objects.filter(action__in=["org.staff.hired", "org.staff.updated"]).count() == 1


def test_a_person_who_had_left_is_brought_back(tree: SimpleNamespace) -> None:
    data = EmployeeHired.model_validate(payload())
    staff = employee_hired_apply(data=data).staff
    Staff.objects.filter(pk=staff.pk).update(status=StaffStatus.LEFT)
    User.objects.filter(pk=staff.user_id).update(is_active=False)
    result = employee_hired_apply(data=data)
    staff.refresh_from_db()
    staff.user.refresh_from_db()
    assert result.changed == ("status",)
    assert staff.status == StaffStatus.ACTIVE and staff.user.is_active


def test_a_taken_username_gets_a_suffix_unless_the_feed_asked_for_it(
    tree: SimpleNamespace, person: Any
) -> None:
    person("doctor", username="20250101")
    staff = employee_hired_apply(data=EmployeeHired.model_validate(payload())).staff
    assert staff.user.username == "20250101-2"
    with pytest.raises(HrFeedError, match="belongs to someone else"):
        employee_hired_apply(
            data=EmployeeHired.model_validate(payload(employee_no="X2", username="20250101"))
        )


def test_an_unknown_department_fails_the_delivery_visibly_and_writes_nothing(tree: SimpleNamespace) -> None:
    publish(HIRED, payload(department="NOPE"))
    dispatch_until_idle()
    delivery = Delivery.objects.get(subscriber="org.hr_employee_hired")
    assert delivery.status == DeliveryStatus.FAILED
    assert "unknown department code 'NOPE'" in delivery.last_error
    assert not Staff.objects.filter(employee_no="20250101").exists()
    assert not User.objects.filter(username="20250101").exists()


def test_an_invalid_value_names_the_field(tree: SimpleNamespace) -> None:
    with pytest.raises(HrFeedError, match="email"):
        employee_hired_apply(data=EmployeeHired.model_validate(payload(email="not-an-email")))
    assert not Staff.objects.exists() or not Staff.objects.filter(employee_no="20250101").exists()


def test_an_unknown_title_keeps_the_text_as_the_position(tree: SimpleNamespace) -> None:
    staff = employee_hired_apply(
        data=EmployeeHired.model_validate(payload(position_kind="admin", title="信息工程师", department="HR"))
    ).staff
    assert staff.title == Title.ADMINISTRATIVE
    assert staff.position == "信息工程师"
