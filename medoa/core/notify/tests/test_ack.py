"""确认收到: acknowledging (API and page), and the escalation job when none comes in time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.access.tokens import api_token_issue
from medoa.core.audit.models import AuditEntry
from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_send, notifications_escalate, preference_update

pytestmark = pytest.mark.django_db


def _bearer(user: Any) -> dict[str, str]:
    raw, _ = api_token_issue(user=user)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def ward(staff_factory: Any, role_assignment_factory: Any, role_factory: Any) -> dict[str, Any]:
    doctor = staff_factory(name="张医生", user__first_name="医生", user__last_name="张")
    head = staff_factory(department=doctor.department, name="李主任")
    role_assignment_factory(staff=head, role=role_factory(code="dept_head"), department=doctor.department)
    far = staff_factory(name="别科主任")
    role_assignment_factory(staff=far, role=role_factory(code="dept_head"), department=far.department)
    return {"doctor": doctor, "head": head, "far": far}


def _critical(ward: dict[str, Any], minutes: int = 10) -> Notification:
    [n] = notification_send(
        recipients=[ward["doctor"].user],
        title="危急值：血钾 6.8",
        kind="critical",
        urgent=True,
        requires_ack=True,
        ack_by=timezone.now() + dt.timedelta(minutes=minutes),
        escalate_to={"role": "dept_head", "department": ward["doctor"].department_id},
    )
    return n


def test_ack_through_the_api_reads_and_audits_once(client: Any, ward: dict[str, Any]) -> None:
    n = _critical(ward)
    auth = _bearer(ward["doctor"].user)

    listed = client.get("/api/v1/notifications?unread=1", **auth).json()
    first = client.post(f"/api/v1/notifications/{n.pk}/ack", **auth)
    again = client.post(f"/api/v1/notifications/{n.pk}/ack", **auth)

    assert [(i["id"], i["requires_ack"], i["acked_at"]) for i in listed["items"]] == [(n.pk, True, None)]
    assert first.status_code == 200 and again.status_code == 200
    assert first.json()["acked_at"] == again.json()["acked_at"] is not None
    assert first.json()["read_at"] == first.json()["acked_at"]
    assert client.get("/api/v1/notifications?unread=1", **auth).json()["count"] == 0
    assert list(
        AuditEntry.objects.filter(action="notify.notification.acknowledged").values_list(
            "target_id", flat=True
        )
    ) == [str(n.pk)]


def test_ack_refusals(client: Any, ward: dict[str, Any]) -> None:
    n = _critical(ward)
    [plain] = notification_send(recipients=[ward["doctor"].user], title="周会")

    other = client.post(f"/api/v1/notifications/{n.pk}/ack", **_bearer(ward["head"].user))
    not_ackable = client.post(f"/api/v1/notifications/{plain.pk}/ack", **_bearer(ward["doctor"].user))
    anonymous = client.post(f"/api/v1/notifications/{n.pk}/ack")

    assert (other.status_code, not_ackable.status_code, anonymous.status_code) == (404, 400, 401)
    assert Notification.objects.filter(acked_at__isnull=False).count() == 0
    assert not AuditEntry.objects.filter(action="notify.notification.acknowledged").exists()


def test_ack_on_the_inbox_page(client: Any, ward: dict[str, Any]) -> None:
    n = _critical(ward)
    client.force_login(ward["doctor"].user)

    page = client.get("/notifications/").content.decode()
    response = client.post(f"/notifications/{n.pk}/ack/", {"next": "/notifications/"})

    assert f'action="/notifications/{n.pk}/ack/"' in page
    assert response.status_code == 302
    n.refresh_from_db()
    assert n.acked_at is not None


def test_overdue_ack_is_escalated_once_to_the_department_head_and_audited(ward: dict[str, Any]) -> None:
    late = _critical(ward, minutes=-1)
    acked = _critical(ward, minutes=-1)
    Notification.objects.filter(pk=acked.pk).update(acked_at=timezone.now())
    _critical(ward, minutes=30)  # not due yet
    preference_update(user=ward["head"].user, channels={}, quiet_start=None, quiet_end=None, language="en")

    assert notifications_escalate() == 1
    assert notifications_escalate() == 0

    [sent] = Notification.objects.filter(data__escalated_from=late.pk)
    assert sent.recipient == ward["head"].user
    assert sent.title == "Not acknowledged: 危急值：血钾 6.8"
    ack_by = timezone.localtime(late.ack_by).strftime("%Y-%m-%d %H:%M")
    assert sent.body == f"张医生 did not acknowledge this notification by {ack_by}."
    assert (sent.kind, sent.urgent) == ("alert", True)
    late.refresh_from_db()
    assert late.escalated_at is not None
    [entry] = AuditEntry.objects.filter(action="notify.notification.escalated")
    assert entry.target_id == str(late.pk)
    assert entry.details["to"] == [ward["head"].user.pk]


def test_escalation_to_listed_users_in_their_language(ward: dict[str, Any], user_factory: Any) -> None:
    zh_user = user_factory()
    [n] = notification_send(
        recipients=[ward["doctor"].user],
        title="设备报修未确认",
        requires_ack=True,
        ack_by=timezone.now() - dt.timedelta(seconds=1),
        escalate_to={"users": [zh_user.pk, ward["doctor"].user.pk]},
    )

    assert notifications_escalate() == 1

    [sent] = Notification.objects.filter(data__escalated_from=n.pk)
    assert (sent.recipient, sent.title) == (zh_user, "未确认：设备报修未确认")
