"""Reads of the critical-value loop, each scoped to the asking user.

Who sees an alert: the people it was sent to (the responsible doctor, the fallback, those it was
escalated to), holders of ``quality.critical.view`` within their scope (医务处 and 质控办 the whole
hospital, department heads and head nurses their department tree) and of ``quality.critical.manage``
(administrators). Who may act on it (acknowledge, close): the people it was sent to and holders of
``quality.critical.manage``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm, scope_q

from .errors import AlertNotFound, AlertPermissionDenied
from .models import AlertStatus, CriticalAlert, CriticalAlertRecipient

PERM_VIEW = "quality.critical.view"
PERM_MANAGE = "quality.critical.manage"
PERM_CONFIGURE = "quality.critical.configure"
ACTIVE = (AlertStatus.OPEN, AlertStatus.ESCALATED)
STATUS_FILTERS = ("open", "escalated", "active", "acknowledged", "closed", "all")


def _is_recipient(user: Any, alert: CriticalAlert) -> bool:
    return CriticalAlertRecipient.objects.filter(alert=alert, user_id=user.pk).exists()


def may_act(user: Any, alert: CriticalAlert) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if alert.responsible_id is not None and alert.responsible_id == user.pk:
        return True
    return _is_recipient(user, alert) or has_perm(user, PERM_MANAGE)


def may_view(user: Any, alert: CriticalAlert) -> bool:
    """Recipients, and ``quality.critical.view`` over the alert's department or its ward (a head
    nurse holds the role for the ward, below the clinical department)."""
    return (
        may_act(user, alert)
        or has_perm(user, PERM_VIEW, department=alert.department)
        or (alert.ward is not None and has_perm(user, PERM_VIEW, department=alert.ward))
    )


def may_configure(user: Any) -> bool:
    return has_perm(user, PERM_CONFIGURE)


def may_list(user: Any) -> bool:
    """Whether the user sees more than the alerts sent to them (the department/hospital list)."""
    return has_perm(user, PERM_VIEW) or has_perm(user, PERM_MANAGE)


def require_act(user: Any, alert: CriticalAlert) -> None:
    """``AlertNotFound`` for someone who may not even see it, ``AlertPermissionDenied`` for one who
    may see but not act."""
    if may_act(user, alert):
        return
    if may_view(user, alert):
        raise AlertPermissionDenied(
            _(
                "Only the responsible doctor, those it was escalated to or an administrator may act "
                "on this critical value."
            )
        )
    raise AlertNotFound(_("Critical value not found."))


def alerts_visible(user: Any) -> QuerySet[CriticalAlert]:
    mine = Exists(CriticalAlertRecipient.objects.filter(alert=OuterRef("pk"), user_id=user.pk))
    if has_perm(user, PERM_MANAGE):
        return CriticalAlert.objects.all()
    by_department = scope_q(user, PERM_VIEW, department_field="department")
    by_ward = scope_q(user, PERM_VIEW, department_field="ward")
    if not by_department or not by_ward:  # an empty Q() is "everything"; an OR would drop it
        return CriticalAlert.objects.all()
    return CriticalAlert.objects.filter(mine | by_department | by_ward)


def alerts_for_user(
    user: Any,
    *,
    status: str = "",
    mine: bool = False,
    department_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[CriticalAlert]:
    """The alerts ``user`` may see, newest first. ``status``: one of ``STATUS_FILTERS`` (``active``
    = open or escalated; empty = all); ``mine``: only those sent to the user."""
    qs = alerts_visible(user)
    if mine:
        qs = qs.filter(Exists(CriticalAlertRecipient.objects.filter(alert=OuterRef("pk"), user_id=user.pk)))
    if status == "active":
        qs = qs.filter(status__in=ACTIVE)
    elif status and status != "all":
        qs = qs.filter(status=status)
    if department_id:
        qs = qs.filter(department_id=department_id)
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    if until is not None:
        qs = qs.filter(received_at__lt=until)
    return qs.select_related("department", "ward", "responsible", "acknowledged_by", "closed_by").order_by(
        "-notified_at", "-id"
    )


def alert_get(user: Any, pk: int) -> CriticalAlert:
    alert = (
        CriticalAlert.objects.select_related(
            "department", "ward", "responsible", "acknowledged_by", "closed_by"
        )
        .filter(pk=pk)
        .first()
    )
    if alert is None or not may_view(user, alert):
        raise AlertNotFound(_("Critical value not found."))
    return alert


def recipients_of(alert: CriticalAlert) -> list[CriticalAlertRecipient]:
    """The people the alert went to, in order, each with ``display`` (their staff name)."""
    rows = list(alert.recipients.select_related("user").order_by("notified_at", "id"))
    names = display_names([r.user_id for r in rows])
    for r in rows:
        r.display = names.get(r.user_id) or r.user.get_username()  # type: ignore[attr-defined]
    return rows


def display_names(user_ids: list[int | None]) -> dict[int, str]:
    """User id → the staff member's name (one query); users without a staff record are left out."""
    from medoa.core.org.models import Staff

    wanted = [i for i in user_ids if i is not None]
    if not wanted:
        return {}
    return dict(Staff.objects.filter(user_id__in=wanted).values_list("user_id", "name"))


def my_active_alerts(user: Any, limit: int = 5) -> list[CriticalAlert]:
    """The active alerts sent to ``user`` (the workbench card), most urgent first."""
    qs = CriticalAlert.objects.filter(
        status__in=ACTIVE,
        pk__in=CriticalAlertRecipient.objects.filter(user_id=user.pk).values("alert_id"),
    ).order_by("ack_due_at", "id")
    return list(qs[:limit])


@dataclass
class TimelinessRow:
    department: str
    department_id: int | None
    total: int
    decided: int
    timely: int
    late: int
    pending: int
    open_now: int

    @property
    def rate(self) -> float | None:
        return round(100.0 * self.timely / self.decided, 1) if self.decided else None


def timeliness(
    user: Any, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> tuple[list[TimelinessRow], TimelinessRow]:
    """危急值处置及时率 per department over ``[since, until)`` (by ``received_at``), within what the
    user may see: rate = acknowledged within the limit / alerts whose outcome is decided
    (acknowledged, or past their limit without acknowledgement). An alert still within its limit is
    ``pending`` and counts in neither. One grouped query."""
    now = timezone.now()
    qs = alerts_for_user(user, since=since, until=until)
    decided_q = Q(acknowledged_at__isnull=False) | Q(ack_due_at__lte=now)
    rows = (
        qs.order_by()
        .values("department_id", "department__name_zh", "department_code")
        .annotate(
            total=Count("pk"),
            decided=Count("pk", filter=decided_q),
            timely_n=Count("pk", filter=Q(timely=True)),
            open_n=Count("pk", filter=Q(status__in=ACTIVE)),
        )
        .order_by("department__name_zh", "department_code")
    )
    out = []
    for r in rows:
        out.append(
            TimelinessRow(
                department=r["department__name_zh"] or r["department_code"] or "-",
                department_id=r["department_id"],
                total=r["total"],
                decided=r["decided"],
                timely=r["timely_n"],
                late=r["decided"] - r["timely_n"],
                pending=r["total"] - r["decided"],
                open_now=r["open_n"],
            )
        )
    total = TimelinessRow(
        department=str(_("All departments")),
        department_id=None,
        total=sum(r.total for r in out),
        decided=sum(r.decided for r in out),
        timely=sum(r.timely for r in out),
        late=sum(r.late for r in out),
        pending=sum(r.pending for r in out),
        open_now=sum(r.open_now for r in out),
    )
    return out, total


def alerts_user_may_act(user: Any, ids: list[int]) -> set[int]:
    """Of ``ids``, the alerts ``user`` may act on (one query, none for administrators)."""
    if has_perm(user, PERM_MANAGE):
        return set(ids)
    return set(
        CriticalAlertRecipient.objects.filter(alert_id__in=ids, user_id=user.pk).values_list(
            "alert_id", flat=True
        )
    ) | set(CriticalAlert.objects.filter(pk__in=ids, responsible_id=user.pk).values_list("pk", flat=True))
