"""Every change of the critical-value loop: the subscriber that opens an alert, acknowledgement,
closing with the action taken, the escalation job, and the time limits.

The clock starts when the responsible doctor is notified (``notified_at``, seconds after the
result arrived); ``ack_due_at`` = ``notified_at`` + the acknowledgement limit. No acknowledgement
by then → level 1, the department head(s); still none ``escalate_limit_seconds`` after
``ack_due_at`` → level 2, 医务处 (medical_affairs). The escalation job works from the indexed
``next_due_at`` column, so escalations survive worker restarts and run on whichever worker is up.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from medoa.core.audit.services import audit_record
from medoa.core.clinical.events import CriticalValueReceived
from medoa.core.notify.services import notification_mark_read, notification_send_template
from medoa.core.org.models import Department, RoleAssignment
from medoa.core.org.selectors import role_holders

from . import conf
from .errors import AlertConflict, QualityInputError
from .models import (
    AlertStatus,
    CriticalAlert,
    CriticalAlertRecipient,
    CriticalValueLimit,
    RecipientReason,
    RoutedTo,
)
from .selectors import display_names, may_act, require_act

log = logging.getLogger("medoa.quality")

TEMPLATE_ALERT = "quality.critical_value"
TEMPLATE_ESCALATED = "quality.critical_escalated"
NOTIFICATION_KIND = "critical"
MAX_ACTION = 4000
ACTIVE = (AlertStatus.OPEN, AlertStatus.ESCALATED)


# --- helpers ---------------------------------------------------------------------------------------


def _when(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _departments(data: CriticalValueReceived) -> tuple[Department | None, Department | None]:
    """(department, ward) by their MedOA codes; the department falls back to the ward's parent,
    then to the ward itself. One query (two when the parent is needed)."""
    codes = {c for c in (data.department, data.ward) if c}
    found = {d.code: d for d in Department.objects.filter(code__in=codes)} if codes else {}
    ward = found.get(data.ward) if data.ward else None
    department = found.get(data.department) if data.department else None
    if department is None and ward is not None:
        department = ward.parent if ward.parent_id else ward
    return department, ward


def limits_for(department: Department | None, ward: Department | None, test_code: str) -> tuple[int, int]:
    """(ack seconds, escalate seconds) for an alert: the most specific ``CriticalValueLimit`` —
    ward + test, department + test, test alone, ward, department — else the settings."""
    dept_ids = [d.pk for d in (ward, department) if d is not None]
    rows = list(
        CriticalValueLimit.objects.filter(department_id__in=dept_ids, test_code__in=[test_code, ""])
        | CriticalValueLimit.objects.filter(department__isnull=True, test_code=test_code)
    )

    def rank(row: CriticalValueLimit) -> tuple[int, int]:
        by_test = 0 if row.test_code else 1
        where = dept_ids.index(row.department_id) if row.department_id in dept_ids else len(dept_ids)
        return (by_test, where)

    if rows and test_code:
        best = min(rows, key=rank)
        return best.ack_minutes * 60, best.escalate_minutes * 60
    rows = [r for r in rows if r.department_id is not None]
    if rows:
        best = min(rows, key=rank)
        return best.ack_minutes * 60, best.escalate_minutes * 60
    return conf.ack_seconds(), conf.escalate_seconds()


def _active_users(usernames: Iterable[str]) -> dict[str, Any]:
    names = [u for u in usernames if u]
    if not names:
        return {}
    User = get_user_model()
    return {u.get_username(): u for u in User.objects.filter(username__in=names, is_active=True)}


def department_heads(department: Department | None) -> list[Any]:
    """The users who head ``department``: holders of ``dept_head`` for it (up its chain) and the
    department's recorded head."""
    if department is None:
        return []
    users = [s.user for s in role_holders("dept_head", department)]
    if department.head_id is not None and department.head is not None:
        head = department.head
        if head.user.is_active and head.user not in users:
            users.append(head.user)
    return users


def medical_affairs() -> list[Any]:
    """The holders of ``medical_affairs`` (医务处), anywhere; active accounts only."""
    ids = RoleAssignment.objects.filter(
        role__code="medical_affairs", staff__status="active", staff__user__is_active=True
    ).values_list("staff__user_id", flat=True)
    return list(get_user_model().objects.filter(pk__in=list(ids), is_active=True).order_by("pk"))


def _route(
    data: CriticalValueReceived, department: Department | None, ward: Department | None
) -> tuple[Any, str, list[Any]]:
    """(responsible user or None, how it was routed, every user to notify now).

    The attending doctor of the encounter; else the ordering doctor; else — no doctor, or a name
    MedOA does not know — the ward's head nurse and the department head at once; when neither
    exists, 医务处. Never nobody while anyone holds one of these roles."""
    users = _active_users([data.attending_doctor, data.ordering_doctor])
    if data.attending_doctor in users:
        doctor = users[data.attending_doctor]
        return doctor, RoutedTo.ATTENDING, [doctor]
    if data.ordering_doctor in users:
        doctor = users[data.ordering_doctor]
        return doctor, RoutedTo.ORDERING, [doctor]
    people: list[Any] = []
    place = ward or department
    if place is not None:
        people += [s.user for s in role_holders("head_nurse", place)]
    people += [u for u in department_heads(department) if u not in people]
    if not people:
        people = medical_affairs()
    return None, RoutedTo.FALLBACK, people


def _variables(alert: CriticalAlert) -> dict[str, Any]:
    where = " ".join(
        p for p in (alert.ward_code or alert.department_code, alert.bed and f"{alert.bed}床") if p
    )
    return {
        "patient": alert.patient_initials or alert.patient_id,
        "where": where or "-",
        "test": alert.test_name or alert.test_code,
        "value": f"{alert.value} {alert.unit}".strip(),
        "flag": alert.flag,
        "range": alert.reference_range or "-",
        "due": timezone.localtime(alert.ack_due_at).strftime("%H:%M"),
        "minutes": max(1, round(alert.ack_limit_seconds / 60)),
    }


def _notify(
    alert: CriticalAlert, people: list[Any], reason: str, template: str, extra: dict[str, Any] | None = None
) -> list[CriticalAlertRecipient]:
    """Tell ``people`` (in-app at once; the outside channels, SMS first, through the worker —
    urgent, so even in quiet hours) and record them as recipients. Bulk: no query per person."""
    if not people:
        return []
    now = timezone.now()
    sent = notification_send_template(
        template_key=template,
        recipients=people,
        variables={**_variables(alert), **(extra or {})},
        link=f"/quality/critical-values/{alert.pk}/",
        kind=NOTIFICATION_KIND,
        data={"critical_alert": alert.pk, "reason": reason},
        urgent=True,
    )
    by_user = {n.recipient_id: n.pk for n in sent}
    rows = [
        CriticalAlertRecipient(
            alert=alert, user=u, reason=reason, notification_id=by_user.get(u.pk), notified_at=now
        )
        for u in people
    ]
    return CriticalAlertRecipient.objects.bulk_create(rows, ignore_conflicts=True)


# --- the subscriber --------------------------------------------------------------------------------


def critical_value_received(event: Any) -> None:
    """Subscriber of ``clinical.critical_value.received`` (runs in the worker, in the dispatcher's
    transaction). Idempotent: one alert per observation, whatever the redeliveries."""
    data = CriticalValueReceived.model_validate(event.payload)
    alert_open(data=data, event_id=event.pk)


def alert_open(*, data: CriticalValueReceived, event_id: int | None = None) -> tuple[CriticalAlert, bool]:
    """Open the alert for one critical observation and notify at once; ``(alert, created)``.

    A second call for the same observation returns the first alert and sends nothing."""
    existing = CriticalAlert.objects.filter(observation_id=data.observation_id).first()
    if existing is not None:
        return existing, False
    department, ward = _departments(data)
    ack_s, esc_s = limits_for(department, ward, data.test_code)
    responsible, routed, people = _route(data, department, ward)
    now = timezone.now()
    alert = CriticalAlert(
        observation_id=data.observation_id,
        result_id=data.result_id,
        event_id=event_id,
        patient_id=data.patient_id[:64],
        patient_initials=data.patient_initials[:32],
        encounter_id=data.encounter_id,
        visit_number=data.visit_number[:64],
        department_code=data.department[:32],
        ward_code=data.ward[:32],
        department=department,
        ward=ward,
        room=data.room[:32],
        bed=data.bed[:32],
        test_code=data.test_code[:64],
        test_name=data.test_name[:200],
        value=data.value[:200],
        unit=data.unit[:64],
        flag=data.flag[:16],
        reference_range=data.reference_range[:100],
        observed_at=_when(data.observed_at),
        received_at=_when(data.occurred_at) or now,
        source=data.source[:100],
        attending_doctor=data.attending_doctor[:150],
        ordering_doctor=data.ordering_doctor[:150],
        responsible=responsible,
        routed_to=routed,
        notified_at=now,
        ack_limit_seconds=ack_s,
        escalate_limit_seconds=esc_s,
        ack_due_at=now + dt.timedelta(seconds=ack_s),
        next_due_at=now + dt.timedelta(seconds=ack_s),
    )
    try:
        with transaction.atomic():  # a savepoint: a concurrent delivery of the same observation loses
            alert.save()
            reason = RecipientReason.RESPONSIBLE if responsible is not None else RecipientReason.FALLBACK
            _notify(alert, people, reason, TEMPLATE_ALERT)
            audit_record(
                actor=None,
                actor_name="medoa-worker",
                action="quality.critical_value.notified",
                target=alert,
                details={
                    "observation": alert.observation_id,
                    "event": event_id,
                    "routed_to": routed,
                    "to": [u.pk for u in people],
                    "ack_limit_seconds": ack_s,
                    "source": alert.source,
                },
            )
    except IntegrityError:
        return CriticalAlert.objects.get(observation_id=data.observation_id), False
    if not people:
        log.error("critical value %s (observation %s): nobody to notify", alert.pk, alert.observation_id)
    return alert, True


# --- acknowledge and close -------------------------------------------------------------------------


def _lock(alert: CriticalAlert) -> CriticalAlert:
    qs = CriticalAlert.objects.all()
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()
    return qs.get(pk=alert.pk)


def _mark_read(actor: Any, alert: CriticalAlert) -> None:
    ids = [
        i
        for i in CriticalAlertRecipient.objects.filter(alert=alert, user=actor).values_list(
            "notification_id", flat=True
        )
        if i is not None
    ]
    if ids:
        notification_mark_read(user=actor, ids=ids)


def _acknowledge(locked: CriticalAlert, actor: Any, now: dt.datetime) -> None:
    locked.acknowledged_at = now
    locked.acknowledged_by = actor
    start = locked.notified_at or locked.created_at
    locked.ack_seconds = max(0, int((now - start).total_seconds()))
    # An escalation happens only after the limit passed: an escalated alert is never in time.
    locked.timely = now <= locked.ack_due_at and locked.escalation_level == 0
    locked.next_due_at = None


@transaction.atomic
def alert_ack(*, actor: Any, alert: CriticalAlert) -> CriticalAlert:
    """确认收到: the responsible doctor (or anyone the alert reached, or an administrator)
    acknowledges. Stops the escalation clock; a second acknowledgement keeps the first. Audited."""
    require_act(actor, alert)
    locked = _lock(alert)
    if locked.acknowledged_at is not None:
        return locked
    now = timezone.now()
    _acknowledge(locked, actor, now)
    locked.status = AlertStatus.ACKNOWLEDGED
    locked.save(
        update_fields=["acknowledged_at", "acknowledged_by", "ack_seconds", "timely", "next_due_at", "status"]
    )
    _mark_read(actor, locked)
    audit_record(
        actor=actor,
        action="quality.critical_value.acknowledged",
        target=locked,
        details={
            "ack_seconds": locked.ack_seconds,
            "timely": locked.timely,
            "escalation_level": locked.escalation_level,
        },
    )
    return locked


@transaction.atomic
def alert_close(*, actor: Any, alert: CriticalAlert, action_taken: str) -> CriticalAlert:
    """Record 处置措施 and close (acknowledging too, when that has not happened). The action taken
    is required; a closed alert stays closed (409). Audited."""
    require_act(actor, alert)
    text = (action_taken or "").strip()
    if not text:
        raise QualityInputError(_("Record the action taken before closing."), field="action_taken")
    if len(text) > MAX_ACTION:
        raise QualityInputError(
            _("The action taken may be at most %(max)s characters."),
            field="action_taken",
            params={"max": MAX_ACTION},
        )
    locked = _lock(alert)
    if locked.status == AlertStatus.CLOSED:
        raise AlertConflict(_("This critical value is already closed."), field="status")
    now = timezone.now()
    fields = ["status", "closed_at", "closed_by", "action_taken", "next_due_at"]
    acked_now = locked.acknowledged_at is None
    if acked_now:
        _acknowledge(locked, actor, now)
        fields += ["acknowledged_at", "acknowledged_by", "ack_seconds", "timely"]
    locked.status = AlertStatus.CLOSED
    locked.closed_at = now
    locked.closed_by = actor
    locked.action_taken = text
    locked.next_due_at = None
    locked.save(update_fields=fields)
    _mark_read(actor, locked)
    audit_record(
        actor=actor,
        action="quality.critical_value.closed",
        target=locked,
        details={
            "acknowledged_now": acked_now,
            "timely": locked.timely,
            "minutes_open": round((now - (locked.notified_at or locked.created_at)).total_seconds() / 60, 1),
        },
    )
    return locked


# --- escalation (the worker's periodic job) --------------------------------------------------------


def alerts_escalate(limit: int = 100, *, now: dt.datetime | None = None) -> int:
    """Periodic job: escalate every active alert whose ``next_due_at`` has passed — level 1 to the
    department head(s) (医务处 when the department has none), level 2 to 医务处. Each alert in its
    own transaction, locked and re-checked (several workers may run the job). Returns how many
    escalations were made. ``now`` lets tests drive the clock."""
    now = now or timezone.now()
    due = list(
        CriticalAlert.objects.filter(next_due_at__lte=now, status__in=ACTIVE)
        .order_by("next_due_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in due:
        with transaction.atomic():
            qs = CriticalAlert.objects.filter(pk=pk)
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            alert = qs.select_related("department").first()
            if (
                alert is None
                or alert.status not in ACTIVE
                or alert.next_due_at is None
                or alert.next_due_at > now
            ):
                continue  # acknowledged, closed or escalated meanwhile, or locked by another worker
            done += _escalate(alert, now)
    return done


def _escalate(alert: CriticalAlert, now: dt.datetime) -> int:
    level = alert.escalation_level + 1
    if level == 1:
        people = department_heads(alert.department) or medical_affairs()
        reason = RecipientReason.LEVEL_1
        alert.escalated_1_at = now
        alert.next_due_at = alert.ack_due_at + dt.timedelta(seconds=alert.escalate_limit_seconds)
    else:
        people = medical_affairs()
        reason = RecipientReason.LEVEL_2
        alert.escalated_2_at = now
        alert.next_due_at = None
    alert.escalation_level = level
    alert.status = AlertStatus.ESCALATED
    alert.save(
        update_fields=["escalation_level", "status", "escalated_1_at", "escalated_2_at", "next_due_at"]
    )
    who = ""
    if alert.responsible_id is not None:
        who = display_names([alert.responsible_id]).get(alert.responsible_id) or ""
    _notify(
        alert,
        people,
        reason,
        TEMPLATE_ESCALATED,
        extra={
            "level": level,
            "responsible": who or "-",
            "since": timezone.localtime(alert.notified_at or now).strftime("%H:%M"),
        },
    )
    audit_record(
        actor=None,
        actor_name="medoa-worker",
        action=f"quality.critical_value.escalated_{level}",
        target=alert,
        details={
            "level": level,
            "to": [u.pk for u in people],
            "overdue_seconds": int((now - alert.ack_due_at).total_seconds()),
        },
    )
    if not people:
        log.error("critical value %s: escalation level %s found nobody to notify", alert.pk, level)
    return 1


# --- time limits -----------------------------------------------------------------------------------


@transaction.atomic
def limit_save(
    *, actor: Any, department: Department | None, test_code: str, ack_minutes: int, escalate_minutes: int
) -> CriticalValueLimit:
    """Create or change the limit for (department, test code). Audited."""
    from .selectors import may_configure

    if not may_configure(actor):
        from .errors import AlertPermissionDenied

        raise AlertPermissionDenied(_("You may not change the critical-value time limits."))
    code = (test_code or "").strip()[:64]
    if department is None and not code:
        raise QualityInputError(
            _("Name a department, a test code or both; the hospital-wide default is a setting."),
            field="test_code",
        )
    for field, value in (("ack_minutes", ack_minutes), ("escalate_minutes", escalate_minutes)):
        if not isinstance(value, int) or not 1 <= value <= 1440:
            raise QualityInputError(_("Give a number of minutes from 1 to 1440."), field=field)
    row, created = CriticalValueLimit.objects.update_or_create(
        department=department,
        test_code=code,
        defaults={"ack_minutes": ack_minutes, "escalate_minutes": escalate_minutes},
    )
    audit_record(
        actor=actor,
        action="quality.limit.saved",
        target=row,
        details={
            "department": department.code if department else "",
            "test_code": code,
            "ack_minutes": ack_minutes,
            "escalate_minutes": escalate_minutes,
            "created": created,
        },
    )
    return row


@transaction.atomic
def limit_delete(*, actor: Any, limit: CriticalValueLimit) -> None:
    from .selectors import may_configure

    if not may_configure(actor):
        from .errors import AlertPermissionDenied

        raise AlertPermissionDenied(_("You may not change the critical-value time limits."))
    details = {
        "department": limit.department.code if limit.department else "",
        "test_code": limit.test_code,
        "ack_minutes": limit.ack_minutes,
        "escalate_minutes": limit.escalate_minutes,
    }
    target = ("quality.criticalvaluelimit", limit.pk, str(limit))
    limit.delete()
    audit_record(actor=actor, action="quality.limit.deleted", target=target, details=details)


__all__ = [
    "alert_ack",
    "alert_close",
    "alert_open",
    "alerts_escalate",
    "critical_value_received",
    "limit_delete",
    "limit_save",
    "may_act",
]
