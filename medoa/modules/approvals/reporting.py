"""Report datasets and KPIs of the approval centre. Discovered by the report engine:
``register(site)``.

Approval cycle time = ``finished_at − submitted_at`` of requests decided (approved or rejected)
in the period; the KPI is the median in hours over every type, the ``approvals.requests``
dataset gives it per type (dimension ``type``, measure ``p50`` of ``cycle_seconds``).
"""

from __future__ import annotations

from typing import Any

from .choices import RequestStatus
from .models import ApprovalRequest

DECIDED = (RequestStatus.APPROVED, RequestStatus.REJECTED)


def approval_cycle_hours_median(ctx: Any, h: Any) -> float | None:
    """From the duration facts (series ``approvals.cycle:<type>``, refreshed with the daily facts)."""
    from .catalog import request_types

    series = [f"approvals.cycle:{t.key}" for t in request_types]
    seconds = h.duration_percentile(ctx, series, 0.5)
    return None if seconds is None else seconds / 3600.0


def approval_cycle_by_type(ctx: Any, h: Any) -> dict[str, float | None]:
    qs = ApprovalRequest.objects.filter(
        status__in=DECIDED, finished_at__gte=ctx.start, finished_at__lt=ctx.end
    ).filter(h.department_q(ctx.department_ids, "department_id"))
    out: dict[str, float | None] = {}
    for key in sorted(set(qs.values_list("type_key", flat=True))):
        seconds = h.percentile(
            qs.filter(type_key=key), fraction=0.5, duration=("finished_at", "submitted_at")
        )
        out[key] = None if seconds is None else seconds / 3600.0
    return out


def register(site: Any) -> None:
    f = site.field
    site.dataset(
        "approvals.requests",
        "审批申请",
        "Approval requests",
        queryset=lambda: ApprovalRequest.objects.all(),
        department_path="department_id",
        fields=(
            f("type", "dimension", "申请类型", "Request type", path="type_key"),
            f("status", "dimension", "状态", "Status", path="status", choices=RequestStatus),
            f("submitted_at", "time", "提交时间", "Submitted at", path="submitted_at"),
            f("finished_at", "time", "办结时间", "Finished at", path="finished_at"),
            f(
                "cycle_seconds",
                "measure",
                "审批周期(秒)",
                "Cycle time (seconds)",
                duration=("finished_at", "submitted_at"),
            ),
            f("number", "dimension", "编号", "Number", path="number"),
        ),
        record_fields=("number", "type", "status", "submitted_at", "finished_at"),
    )
    # decided requests as duration facts: series ``approvals.cycle:<type>``
    site.durations(
        "approvals.cycle",
        "approvals.cycle:",
        lambda: ApprovalRequest.objects.filter(status__in=DECIDED),
        series="type_key",
        end="finished_at",
        start="submitted_at",
    )
    site.kpi(
        "approval_cycle_hours_median",
        "审批周期中位数(小时)",
        "Approval cycle time, median (hours)",
        approval_cycle_hours_median,
        unit="hours",
        formula="median(finished_at − submitted_at) / 3600, 已办结(通过/驳回)的申请 (duration facts)",
        order=60,
        drill_dataset="approvals.requests",
    )
    site.kpi(
        "approval_cycle_hours_by_type",
        "各类审批周期中位数(小时)",
        "Approval cycle median by type (hours)",
        approval_cycle_by_type,
        unit="hours",
        order=61,
        drill_dataset="approvals.requests",
    )
