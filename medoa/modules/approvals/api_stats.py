"""The statistics of the approval centre through the API (the lead mounts ``router`` beside the
approval centre's own, ``api.add_router("/approvals", approvals_stats_router)``):

``GET /api/v1/approvals/stats?since=YYYY-MM-DD&until=YYYY-MM-DD&type=<type key>`` — cycle time per
request type (requests decided in the period: count approved / rejected, median, p90 and mean in
seconds), time per step (steps completed in the period), requests pending by department (now),
and the overdue steps (now). ``since``/``until`` are dates in the hospital's time zone (``until``
inclusive); the default period is the last 90 days. Permission ``approvals.stats.view`` (the dean,
vice deans, 医务处 and 人事处: the whole hospital; a department head: their department and below);
without it 403.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema

from medoa.core.apierrors import ErrorOut, api_user, http_error

from . import stats

router = Router(tags=["approvals"])


class DurationsOut(Schema):
    count: int
    median_seconds: float | None
    p90_seconds: float | None
    mean_seconds: float | None


class CycleTimeOut(Schema):
    type: str
    type_name: str
    approved: int
    rejected: int
    cycle_time: DurationsOut


class StepTimeOut(Schema):
    type: str
    type_name: str
    step_id: str
    step_name: str
    time: DurationsOut


class PendingOut(Schema):
    department: str
    department_name: str
    pending: int
    oldest_submitted_at: datetime.datetime | None


class OverdueOut(Schema):
    task_id: int
    request_id: int
    number: str
    type: str
    type_name: str
    summary: str
    department_name: str
    step_name: str
    assignee: str
    due_at: datetime.datetime
    overdue_seconds: int


class StatsOut(Schema):
    since: datetime.datetime
    until: datetime.datetime
    cycle_times: list[CycleTimeOut]
    step_times: list[StepTimeOut]
    pending_by_department: list[PendingOut]
    overdue: list[OverdueOut]


def _durations(d: stats.Durations) -> dict[str, Any]:
    return {"count": d.count, "median_seconds": d.median, "p90_seconds": d.p90, "mean_seconds": d.mean}


def period(
    since: datetime.date | None, until: datetime.date | None
) -> tuple[datetime.datetime, datetime.datetime]:
    """Dates (``until`` inclusive) → aware datetimes [since 00:00, the day after until 00:00)."""
    tz = timezone.get_current_timezone()
    end = (
        datetime.datetime.combine(until + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
        if until is not None
        else timezone.now()
    )
    start = (
        datetime.datetime.combine(since, datetime.time(), tzinfo=tz)
        if since is not None
        else end - datetime.timedelta(days=stats.DEFAULT_PERIOD_DAYS)
    )
    return start, end


def overview_out(overview: stats.Overview) -> dict[str, Any]:
    return {
        "since": overview.since,
        "until": overview.until,
        "cycle_times": [
            {
                "type": c.type_key,
                "type_name": c.type_name,
                "approved": c.approved,
                "rejected": c.rejected,
                "cycle_time": _durations(c.seconds),
            }
            for c in overview.cycle_times
        ],
        "step_times": [
            {
                "type": s.type_key,
                "type_name": s.type_name,
                "step_id": s.step_id,
                "step_name": s.step_name,
                "time": _durations(s.seconds),
            }
            for s in overview.step_times
        ],
        "pending_by_department": [
            {
                "department": p.department_code,
                "department_name": p.department_name,
                "pending": p.pending,
                "oldest_submitted_at": p.oldest_submitted_at,
            }
            for p in overview.pending
        ],
        "overdue": [
            {
                "task_id": o.task_id,
                "request_id": o.request_id,
                "number": o.number,
                "type": o.type_key,
                "type_name": o.type_name,
                "summary": o.summary,
                "department_name": o.department_name,
                "step_name": o.step_name,
                "assignee": o.assignee,
                "due_at": o.due_at,
                "overdue_seconds": o.overdue_seconds,
            }
            for o in overview.overdue
        ],
    }


@router.get(
    "/stats",
    response={200: StatsOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Approval statistics: cycle times per type and step, pending by department, overdue steps",
)
def approvals_stats(
    request: HttpRequest,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    type: str = "",
) -> Any:
    user = api_user(request)
    if not stats.may_view_stats(user):
        raise http_error(403, _("You may not see the approval statistics."))
    if since is not None and until is not None and until < since:
        raise http_error(422, _("The end date is before the start date."))
    start, end = period(since, until)
    return overview_out(stats.stats_overview(user=user, since=start, until=end, type_key=type[:64]))
