"""The critical-value loop without the network: the subscriber (idempotent, routing and its
fallbacks), escalation driven by the job's clock, acknowledgement and closing, the limits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from medoa.core.audit.models import AuditEntry
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Event
from medoa.core.events.services import publish
from medoa.core.notify.models import Notification
from medoa.modules.quality.errors import (
    AlertConflict,
    AlertNotFound,
    AlertPermissionDenied,
    QualityInputError,
)
from medoa.modules.quality.models import AlertStatus, CriticalAlert, CriticalValueLimit, RoutedTo
from medoa.modules.quality.services import (
    alert_ack,
    alert_close,
    alerts_escalate,
    critical_value_received,
    limit_save,
    limits_for,
)

from .conftest import payload

pytestmark = pytest.mark.django_db


def receive(**overrides: object) -> CriticalAlert:
    data = payload(**overrides)
    with transaction.atomic():
        publish("clinical.critical_value.received", data, key=f"test:{data['observation_id']}")
    dispatch_until_idle()
    return CriticalAlert.objects.get(observation_id=data["observation_id"])


def notified(alert: CriticalAlert) -> set[str]:
    return {
        n.recipient.username
        for n in Notification.objects.filter(data__critical_alert=alert.pk).select_related("recipient")
    }


def test_attending_doctor_is_notified_urgently_and_the_subscriber_is_idempotent(hospital):
    alert = receive()
    assert alert.routed_to == RoutedTo.ATTENDING
    assert alert.responsible == hospital.doctor.user
    assert alert.status == AlertStatus.OPEN
    assert (alert.department, alert.ward, alert.bed, alert.test_name, alert.value) == (
        hospital.card,
        hospital.w5,
        "12",
        "血钾",
        "6.9",
    )
    assert alert.ack_limit_seconds == 600
    assert alert.ack_due_at == alert.notified_at + dt.timedelta(minutes=10)
    [n] = Notification.objects.filter(recipient=hospital.doctor.user)
    assert n.urgent and n.kind == "critical"
    assert "血钾" in n.title and "6.9" in n.title and "HH" in n.title and "张*" in n.title
    assert n.link == f"/quality/critical-values/{alert.pk}/"
    assert (
        AuditEntry.objects.filter(action="quality.critical_value.notified", target_id=str(alert.pk)).count()
        == 1
    )

    # the same event again (a redelivery), and the same observation in another event
    critical_value_received(Event.objects.get(type="clinical.critical_value.received"))
    again = payload(observation_id=alert.observation_id)
    with transaction.atomic():
        publish("clinical.critical_value.received", again, key="test:again")
    dispatch_until_idle()
    assert CriticalAlert.objects.count() == 1
    assert Notification.objects.filter(recipient=hospital.doctor.user).count() == 1


def test_unknown_attending_falls_back_to_the_ordering_doctor(hospital):
    alert = receive(attending_doctor="nobody_we_know", ordering_doctor="dr_zhao")
    assert alert.routed_to == RoutedTo.ORDERING
    assert alert.responsible == hospital.other_doctor.user
    assert notified(alert) == {"dr_zhao"}


def test_no_doctor_goes_to_head_nurse_and_department_head_at_once(hospital):
    alert = receive(attending_doctor="", ordering_doctor="")
    assert alert.routed_to == RoutedTo.FALLBACK and alert.responsible is None
    assert notified(alert) == {"hn_w5", "head_card"}
    # either of them may acknowledge
    done = alert_ack(actor=hospital.nurse_head.user, alert=alert)
    assert done.status == AlertStatus.ACKNOWLEDGED and done.acknowledged_by == hospital.nurse_head.user


def test_a_department_without_anyone_goes_to_medical_affairs(hospital, department_factory):
    from medoa.core.org.choices import DepartmentKind

    empty = department_factory(code="DERM", kind=DepartmentKind.DEPARTMENT, parent=hospital.root)
    alert = receive(attending_doctor="", department="DERM", ward="")
    assert alert.department == empty
    assert notified(alert) == {"med_office"}


def test_an_unknown_ward_is_never_dropped(hospital):
    alert = receive(attending_doctor="ghost", department="", ward="NOWHERE")
    assert alert.department is None
    assert notified(alert) == {"med_office"}


def test_escalation_driven_by_the_clock(hospital, settings):
    settings.MEDOA_CRITICAL_ACK_MINUTES = 1
    settings.MEDOA_CRITICAL_ESCALATE_MINUTES = 2
    alert = receive()
    t0 = alert.notified_at
    assert alerts_escalate(now=t0 + dt.timedelta(seconds=30)) == 0
    assert alerts_escalate(now=t0 + dt.timedelta(seconds=61)) == 1
    alert.refresh_from_db()
    assert (alert.status, alert.escalation_level) == (AlertStatus.ESCALATED, 1)
    assert alert.escalated_1_at == t0 + dt.timedelta(seconds=61)
    assert alert.next_due_at == alert.ack_due_at + dt.timedelta(minutes=2)
    assert notified(alert) == {"dr_li", "head_card"}
    assert alerts_escalate(now=t0 + dt.timedelta(seconds=62)) == 0  # once per level
    assert alerts_escalate(now=t0 + dt.timedelta(seconds=181)) == 1
    alert.refresh_from_db()
    assert alert.escalation_level == 2 and alert.next_due_at is None
    assert notified(alert) == {"dr_li", "head_card", "med_office"}
    assert alerts_escalate(now=t0 + dt.timedelta(hours=5)) == 0
    assert list(
        AuditEntry.objects.filter(target_id=str(alert.pk), action__startswith="quality.")
        .values_list("action", flat=True)
        .order_by("id")
    ) == [
        "quality.critical_value.notified",
        "quality.critical_value.escalated_1",
        "quality.critical_value.escalated_2",
    ]
    # the department head it was escalated to may act; it was late
    done = alert_ack(actor=hospital.head.user, alert=alert)
    assert done.timely is False and done.status == AlertStatus.ACKNOWLEDGED


def test_acknowledgement_in_time_stops_the_clock(hospital, settings):
    settings.MEDOA_CRITICAL_ACK_MINUTES = 1
    alert = receive()
    done = alert_ack(actor=hospital.doctor.user, alert=alert)
    assert done.timely is True and done.next_due_at is None and done.ack_seconds is not None
    first = done.acknowledged_at
    assert alert_ack(actor=hospital.doctor.user, alert=alert).acknowledged_at == first  # idempotent
    assert alerts_escalate(now=alert.notified_at + dt.timedelta(hours=1)) == 0
    # the doctor's notification is read
    assert Notification.objects.get(recipient=hospital.doctor.user).read_at is not None


def test_close_needs_the_action_taken_and_closes_once(hospital):
    alert = receive()
    with pytest.raises(QualityInputError) as exc:
        alert_close(actor=hospital.doctor.user, alert=alert, action_taken="   ")
    assert exc.value.field == "action_taken"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    done = alert_close(actor=hospital.doctor.user, alert=alert, action_taken="复查血钾，予葡萄糖酸钙静推")
    assert done.status == AlertStatus.CLOSED and done.acknowledged_at is not None and done.timely is True
    assert done.closed_by == hospital.doctor.user
    with pytest.raises(AlertConflict):
        alert_close(actor=hospital.doctor.user, alert=alert, action_taken="again")


def test_only_recipients_and_administrators_act(hospital):
    alert = receive()
    with pytest.raises(AlertNotFound):
        alert_ack(actor=hospital.surg_head.user, alert=alert)  # another department: may not see
    with pytest.raises(AlertPermissionDenied):
        alert_ack(actor=hospital.head.user, alert=alert)  # sees the department, not escalated to
    with pytest.raises(AlertPermissionDenied):
        alert_ack(actor=hospital.quality.user, alert=alert)  # 质控办 watches, does not act


def test_limits_most_specific_wins(hospital):
    assert limits_for(hospital.card, hospital.w5, "K") == (600, 600)
    limit_save(
        actor=hospital.medical.user, department=hospital.card, test_code="", ack_minutes=8, escalate_minutes=5
    )
    assert limits_for(hospital.card, hospital.w5, "K") == (480, 300)
    limit_save(actor=hospital.medical.user, department=None, test_code="K", ack_minutes=5, escalate_minutes=5)
    assert limits_for(hospital.card, hospital.w5, "K") == (300, 300)
    assert limits_for(hospital.card, hospital.w5, "GLU") == (480, 300)
    limit_save(
        actor=hospital.medical.user, department=hospital.w5, test_code="K", ack_minutes=3, escalate_minutes=4
    )
    assert limits_for(hospital.card, hospital.w5, "K") == (180, 240)
    assert limits_for(hospital.surg, None, "K") == (300, 300)
    # the same (department, test) row is changed, not duplicated
    limit_save(
        actor=hospital.medical.user, department=hospital.w5, test_code="K", ack_minutes=2, escalate_minutes=4
    )
    assert CriticalValueLimit.objects.filter(department=hospital.w5, test_code="K").get().ack_minutes == 2
    with pytest.raises(QualityInputError):
        limit_save(
            actor=hospital.medical.user, department=None, test_code="", ack_minutes=2, escalate_minutes=4
        )
    with pytest.raises(QualityInputError):
        limit_save(
            actor=hospital.medical.user, department=None, test_code="K", ack_minutes=0, escalate_minutes=4
        )
    with pytest.raises(AlertPermissionDenied):
        limit_save(
            actor=hospital.doctor.user, department=None, test_code="K", ack_minutes=5, escalate_minutes=4
        )
    alert = receive()
    assert alert.ack_limit_seconds == 120


def test_demo_history_and_limits_load_once(hospital):
    from medoa.modules.quality.demo import PER_DEPARTMENT, demo_load
    from medoa.modules.quality.selectors import timeliness

    demo_load(password="x")
    demo_load(password="x")
    history = CriticalAlert.objects.filter(observation_id__lt=0)
    assert history.count() == PER_DEPARTMENT  # CARD is the only department with a ward and doctors
    assert set(history.values_list("status", flat=True)) == {AlertStatus.CLOSED}
    assert all(a.responsible.username in {"dr_li", "dr_zhao"} for a in history)
    _rows, total = timeliness(hospital.quality.user)
    assert total.total == PER_DEPARTMENT and total.pending == 0 and total.rate is not None
