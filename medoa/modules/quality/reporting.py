"""Report datasets and KPIs of the quality module (critical values). Discovered by the report
engine: ``register(site)``.

危急值处置及时率 = alerts acknowledged within their limit (``CriticalAlert.timely`` true) / alerts
acknowledged (``timely`` not null), over the alerts received (``received_at``) in the period.
The row's department is the ward when known, else the department.
"""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Coalesce

from .models import AlertStatus, CriticalAlert


def alerts() -> Any:
    return CriticalAlert.objects.annotate(reports_department_id=Coalesce("ward_id", "department_id"))


def critical_value_timely_rate(ctx: Any, h: Any) -> float | None:
    qs = alerts().filter(received_at__gte=ctx.start, received_at__lt=ctx.end, timely__isnull=False)
    qs = qs.filter(h.department_q(ctx.department_ids, "reports_department_id"))
    total = qs.count()
    if not total:
        return None
    return qs.filter(timely=True).count() / total


def register(site: Any) -> None:
    f = site.field
    site.dataset(
        "quality.critical_values",
        "危急值",
        "Critical values",
        queryset=alerts,
        department_path="reports_department_id",
        fields=(
            f("status", "dimension", "状态", "Status", path="status", choices=AlertStatus),
            f("test_code", "dimension", "检验项目", "Test", path="test_code"),
            f("flag", "dimension", "标志", "Flag", path="flag"),
            f("routed_to", "dimension", "通知对象", "Routed to", path="routed_to"),
            f("escalation_level", "dimension", "升级级别", "Escalation level", path="escalation_level"),
            f("received_at", "time", "接收时间", "Received at", path="received_at"),
            f("timely", "dimension", "及时处置", "Acknowledged in time", path="timely", boolean=True),
            f("ack_seconds", "measure", "确认用时(秒)", "Time to acknowledge (seconds)", path="ack_seconds"),
            f(
                "close_seconds",
                "measure",
                "闭环用时(秒)",
                "Time to close (seconds)",
                duration=("closed_at", "received_at"),
            ),
            f("visit_number", "dimension", "住院号", "Visit number", path="visit_number"),
        ),
        record_fields=("visit_number", "test_code", "status", "received_at", "timely"),
    )
    site.kpi(
        "critical_value_timely_rate",
        "危急值处置及时率",
        "Critical values handled in time",
        critical_value_timely_rate,
        unit="ratio",
        formula="及时确认的危急值数 / 已确认的危急值数 (CriticalAlert.timely)",
        order=50,
        drill_dataset="quality.critical_values",
    )
