"""Saved reports: save (validated by compiling the query), delete, share with roles, schedule a
weekly e-mail (through the notification centre's e-mail channel: the message links the PDF or
.xlsx export of the report)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from medoa.core.audit.services import audit_record
from medoa.core.notify.services import notification_send
from medoa.core.org.roles import BUILTIN_ROLE_CODES

from . import access, query
from .models import ExportFormat, SavedReport, ScheduleFrequency

CHARTS = ("line", "bar", "stacked", "pie", "gauge", "heatmap", "table")


class ReportInputError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _next_run(weekday: int, now: dt.datetime) -> dt.datetime:
    local = timezone.localtime(now)
    days = (weekday - local.weekday()) % 7 or 7
    day = local.date() + dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(7, 0)), timezone.get_default_timezone())


def report_save(*, actor: Any, data: dict[str, Any], report: SavedReport | None = None) -> SavedReport:
    """Create or change a saved report; the query is compiled (and run once, for this user) so a
    bad spec is refused with the field that is wrong."""
    if report is not None and report.owner_id != actor.pk:
        raise access.Forbidden("not the owner")
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise ReportInputError("name", "a name of 1 to 200 characters is required")
    spec = data.get("spec")
    try:
        query.run(spec if isinstance(spec, dict) else {}, actor)
    except query.QueryError as exc:
        raise ReportInputError(f"spec.{exc.field}", exc.message) from None
    chart = data.get("chart", "bar")
    if chart not in CHARTS:
        raise ReportInputError("chart", f"must be one of {', '.join(CHARTS)}")
    roles = data.get("shared_roles") or []
    if not isinstance(roles, list) or any(r not in BUILTIN_ROLE_CODES for r in roles):
        raise ReportInputError("shared_roles", "unknown role code")
    schedule = data.get("schedule") or ""
    if schedule not in ScheduleFrequency.values:
        raise ReportInputError("schedule", "must be '' or 'weekly'")
    fmt = data.get("schedule_format") or ExportFormat.PDF
    if fmt not in ExportFormat.values:
        raise ReportInputError("schedule_format", "must be pdf or xlsx")
    weekday = data.get("schedule_weekday", 0)
    if not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise ReportInputError("schedule_weekday", "0 (Monday) to 6 (Sunday)")
    with transaction.atomic():
        report = report or SavedReport(owner=actor)
        report.name = name
        report.dataset = str(spec["dataset"])  # type: ignore[index]
        report.spec = spec
        report.chart = chart
        report.shared_roles = roles
        report.schedule = schedule
        report.schedule_format = fmt
        report.schedule_weekday = weekday
        report.next_run_at = _next_run(weekday, timezone.now()) if schedule else None
        report.save()
        audit_record(
            actor=actor,
            action="reports.report.saved",
            target=report,
            details={"dataset": report.dataset, "shared_roles": roles, "schedule": schedule},
        )
    return report


def report_delete(*, actor: Any, report: SavedReport) -> None:
    if report.owner_id != actor.pk:
        raise access.Forbidden("not the owner")
    with transaction.atomic():
        audit_record(actor=actor, action="reports.report.deleted", target=report)
        report.delete()


def reports_visible(user: Any) -> Any:
    """The user's own reports and those shared with a role they hold."""
    from medoa.core.access.policy import principal_of

    principal = principal_of(user)
    q = Q(owner_id=user.pk)
    for code in principal.role_codes if principal else ():
        q |= (
            Q(shared_roles__contains=[code])
            if _json_contains_supported()
            else Q(shared_roles__icontains=f'"{code}"')
        )
    return SavedReport.objects.filter(q)


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def scheduled_reports_job() -> int:
    """PeriodicJob: the weekly reports that are due — one e-mail notification to the owner with
    the link to the export (run as the owner: their data scope applies when the link is opened)."""
    now = timezone.now()
    sent = 0
    due = SavedReport.objects.filter(schedule=ScheduleFrequency.WEEKLY, next_run_at__lte=now)[:50]
    for report in due:
        with transaction.atomic():
            owner = get_user_model().objects.get(pk=report.owner_id)
            notification_send(
                recipients=[owner],
                title=f"每周报表：{report.name}",
                body=f"报表 {report.name} 已生成（{report.schedule_format.upper()}），请点击链接下载。",
                link=f"/reports/saved/{report.pk}/export.{report.schedule_format}",
                kind="report",
            )
            report.last_sent_at = now
            report.next_run_at = _next_run(report.schedule_weekday, now)
            report.save(update_fields=["last_sent_at", "next_run_at"])
            sent += 1
    return sent
