"""Statistics of the approval centre (selectors; the report engine and the statistics page use
them): cycle time per request type and per step (median and 90th percentile), requests pending by
department, and the overdue list (open steps past their due time).

Who sees what: the permission ``approvals.stats.view`` — the dean, vice deans, 医务处 and 人事处
for the whole hospital, a department head for their department and the departments below it. A
request counts in the department it was submitted from (``ApprovalRequest.department``).

Durations are seconds. Percentiles interpolate linearly between the two nearest values (as
spreadsheets' PERCENTILE and numpy's default do); they are computed here rather than in SQL so
SQLite and PostgreSQL give the same figures.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Min, QuerySet
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission
from medoa.core.access.policy import has_perm, scope_q
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.models import HumanTask

from .catalog import request_types
from .choices import RequestStatus
from .models import ApprovalRequest

PERM_STATS = "approvals.stats.view"
PERMISSIONS = (
    Permission(
        PERM_STATS,
        _("See the approval statistics (cycle times, pending requests, overdue steps)"),
        defaults={
            "dean": DataScope.ALL,
            "vice_dean": DataScope.ALL,
            "medical_affairs": DataScope.ALL,
            "hr": DataScope.ALL,
            "dept_head": DataScope.DEPARTMENT_TREE,
        },
        group="approvals",
    ),
)
DEFAULT_PERIOD_DAYS = 90
MAX_ROWS = 100_000
OVERDUE_LIMIT = 500
FINISHED = (RequestStatus.APPROVED, RequestStatus.REJECTED)


@dataclass(frozen=True)
class Durations:
    count: int
    median: float | None
    p90: float | None
    mean: float | None


@dataclass(frozen=True)
class CycleTime:
    type_key: str
    type_name: str
    approved: int
    rejected: int
    seconds: Durations


@dataclass(frozen=True)
class StepTime:
    type_key: str
    type_name: str
    step_id: str
    step_name: str
    seconds: Durations


@dataclass(frozen=True)
class PendingRow:
    department_id: int
    department_code: str
    department_name: str
    pending: int
    oldest_submitted_at: datetime.datetime | None


@dataclass(frozen=True)
class OverdueRow:
    task_id: int
    request_id: int
    number: str
    type_key: str
    type_name: str
    summary: str
    department_name: str
    step_name: str
    assignee: str
    due_at: datetime.datetime
    overdue_seconds: int


@dataclass(frozen=True)
class Overview:
    since: datetime.datetime
    until: datetime.datetime
    cycle_times: list[CycleTime]
    step_times: list[StepTime]
    pending: list[PendingRow]
    overdue: list[OverdueRow]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of ``values``, linearly interpolated; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def durations(values: Sequence[float]) -> Durations:
    return Durations(
        count=len(values),
        median=percentile(values, 50),
        p90=percentile(values, 90),
        mean=(sum(values) / len(values)) if values else None,
    )


def may_view_stats(user: Any) -> bool:
    return has_perm(user, PERM_STATS)


def type_name(key: str) -> str:
    return str(request_types.get(key).name) if key in request_types else key


def requests_in_scope(user: Any) -> QuerySet[ApprovalRequest]:
    """The requests whose figures ``user`` may see (none without the permission)."""
    return ApprovalRequest.objects.filter(scope_q(user, PERM_STATS, department_field="department"))


def default_period(
    since: datetime.datetime | None, until: datetime.datetime | None
) -> tuple[datetime.datetime, datetime.datetime]:
    until = until or timezone.now()
    since = since or until - datetime.timedelta(days=DEFAULT_PERIOD_DAYS)
    return since, until


def _seconds(start: datetime.datetime | None, end: datetime.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def cycle_times(
    *,
    user: Any,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    type_key: str = "",
) -> list[CycleTime]:
    """Per request type: the requests decided in the period (by when they finished) and how long
    they took from submission to the decision."""
    since, until = default_period(since, until)
    qs = requests_in_scope(user).filter(status__in=FINISHED, finished_at__gte=since, finished_at__lt=until)
    if type_key:
        qs = qs.filter(type_key=type_key)
    seconds: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: {"approved": 0, "rejected": 0})
    for key, status, submitted, finished in qs.values_list(
        "type_key", "status", "submitted_at", "finished_at"
    )[:MAX_ROWS]:
        value = _seconds(submitted, finished)
        if value is not None:
            seconds[key].append(value)
        outcomes[key][status] += 1
    return sorted(
        (
            CycleTime(
                type_key=key,
                type_name=type_name(key),
                approved=outcomes[key]["approved"],
                rejected=outcomes[key]["rejected"],
                seconds=durations(values),
            )
            for key, values in seconds.items()
        ),
        key=lambda row: row.type_key,
    )


def step_times(
    *,
    user: Any,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    type_key: str = "",
) -> list[StepTime]:
    """Per request type and step: how long a person took to decide it (from the task's creation
    to its completion), for the steps completed in the period. Each countersign share counts."""
    since, until = default_period(since, until)
    requests = requests_in_scope(user)
    if type_key:
        requests = requests.filter(type_key=type_key)
    rows = (
        HumanTask.objects.filter(
            status=TaskStatus.COMPLETED,
            completed_at__gte=since,
            completed_at__lt=until,
            instance__approval_requests__in=requests,
        )
        .values_list(
            "instance__approval_requests__type_key", "task_def_id", "name", "created_at", "completed_at"
        )
        .order_by()[:MAX_ROWS]
    )
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    names: dict[tuple[str, str], str] = {}
    for key, step_id, name, created, completed in rows:
        value = _seconds(created, completed)
        if value is None:
            continue
        seconds[(key, step_id)].append(value)
        names.setdefault((key, step_id), name)
    return sorted(
        (
            StepTime(
                type_key=key,
                type_name=type_name(key),
                step_id=step_id,
                step_name=names[(key, step_id)],
                seconds=durations(values),
            )
            for (key, step_id), values in seconds.items()
        ),
        key=lambda row: (row.type_key, row.step_id),
    )


def pending_by_department(*, user: Any, type_key: str = "") -> list[PendingRow]:
    """Requests in approval now, per department they were submitted from (most first)."""
    qs = requests_in_scope(user).filter(status=RequestStatus.SUBMITTED)
    if type_key:
        qs = qs.filter(type_key=type_key)
    rows = (
        qs.values("department_id", "department__code", "department__name_zh", "department__name_en")
        .annotate(pending=Count("pk"), oldest=Min("submitted_at"))
        .order_by("-pending", "department__code")
    )
    english = _use_english()
    return [
        PendingRow(
            department_id=row["department_id"],
            department_code=row["department__code"],
            department_name=(row["department__name_en"] if english and row["department__name_en"] else None)
            or row["department__name_zh"],
            pending=row["pending"],
            oldest_submitted_at=row["oldest"],
        )
        for row in rows
    ]


def _use_english() -> bool:
    return (get_language() or "").startswith("en")


def _person(task: HumanTask) -> str:
    if task.assignee is not None:
        return task.assignee.name
    names = [c.staff.name for c in task.candidates.all()]
    return "、".join(names[:3]) + ("…" if len(names) > 3 else "")


def overdue_tasks(
    *, user: Any, now: datetime.datetime | None = None, type_key: str = "", limit: int = OVERDUE_LIMIT
) -> list[OverdueRow]:
    """Open steps of requests in approval whose due time has passed, the longest overdue first."""
    now = now or timezone.now()
    requests = requests_in_scope(user).filter(status=RequestStatus.SUBMITTED)
    if type_key:
        requests = requests.filter(type_key=type_key)
    tasks = list(
        HumanTask.objects.filter(
            status=TaskStatus.OPEN, due_at__lt=now, instance__approval_requests__in=requests
        )
        .select_related("assignee")
        .prefetch_related("candidates__staff")
        .order_by("due_at", "pk")[:limit]
    )
    by_instance = _requests_by_instance(t.instance_id for t in tasks)
    rows: list[OverdueRow] = []
    for task in tasks:
        request = by_instance.get(task.instance_id)
        if request is None or task.due_at is None:
            continue
        rows.append(
            OverdueRow(
                task_id=task.pk,
                request_id=request.pk,
                number=request.number or "",
                type_key=request.type_key,
                type_name=type_name(request.type_key),
                summary=request.summary,
                department_name=request.department.name,
                step_name=task.name,
                assignee=_person(task),
                due_at=task.due_at,
                overdue_seconds=int((now - task.due_at).total_seconds()),
            )
        )
    return rows


def _requests_by_instance(instance_ids: Iterable[int]) -> dict[int, ApprovalRequest]:
    ids = set(instance_ids)
    if not ids:
        return {}
    return {
        r.process_instance_id: r
        for r in ApprovalRequest.objects.filter(process_instance_id__in=ids).select_related("department")
        if r.process_instance_id is not None
    }


def stats_overview(
    *,
    user: Any,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    type_key: str = "",
    now: datetime.datetime | None = None,
) -> Overview:
    since, until = default_period(since, until)
    return Overview(
        since=since,
        until=until,
        cycle_times=cycle_times(user=user, since=since, until=until, type_key=type_key),
        step_times=step_times(user=user, since=since, until=until, type_key=type_key),
        pending=pending_by_department(user=user, type_key=type_key),
        overdue=overdue_tasks(user=user, now=now, type_key=type_key),
    )
