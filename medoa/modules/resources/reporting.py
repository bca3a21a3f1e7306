"""Report datasets, daily facts and KPIs of the resources module (beds, bed turnaround,
operating rooms). Discovered by the report engine: ``register(site)``.

* ``beds.open_days`` — 实际开放床日数: the ward's beds not out of service (维修), one per day. The
  daily refresh keeps each day's count; a rebuild of past days uses today's beds (bed history
  does not hold when a bed was added).
* bed occupancy rate = Σ beds.occupied_days / Σ beds.open_days (clinical facts / these facts);
* bed turnover = Σ enc.discharges / (Σ beds.open_days / days) (出院人数 / 平均开放床位数);
* bed turnaround median = median of ``BedCleaning.turnaround_seconds`` (discharge → bed free)
  of cleanings finished in the period, in minutes;
* OR utilisation = Σ (ended_at − in_room_at) of cases that entered the room in the period /
  Σ over active rooms of (closes_at − opens_at) × days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count

from .beds_choices import BedStatus
from .models import Bed, BedCleaning
from .models_or import OperatingRoom, ORBooking


def open_bed_facts(day_from: dt.date, day_to: dt.date) -> list[tuple[dt.date, int | None, str, float]]:
    counts = Bed.objects.exclude(status=BedStatus.OUT_OF_SERVICE).values("ward_id").annotate(n=Count("pk"))
    by_ward = [(row["ward_id"], row["n"]) for row in counts]
    out: list[tuple[dt.date, int | None, str, float]] = []
    day = day_from
    while day <= day_to:
        out.extend((day, ward, "beds.open_days", float(n)) for ward, n in by_ward)
        day += dt.timedelta(days=1)
    return out


def bed_occupancy_rate(ctx: Any, h: Any) -> float | None:
    return h.ratio(h.facts_sum(ctx, "beds.occupied_days"), h.facts_sum(ctx, "beds.open_days"))


def bed_turnover(ctx: Any, h: Any) -> float | None:
    open_days = h.facts_sum(ctx, "beds.open_days")
    if not open_days:
        return None
    return h.facts_sum(ctx, "enc.discharges") / (open_days / ctx.days)


def bed_turnaround_minutes_median(ctx: Any, h: Any) -> float | None:
    qs = BedCleaning.objects.filter(
        finished_at__gte=ctx.start, finished_at__lt=ctx.end, turnaround_seconds__isnull=False
    ).filter(h.department_q(ctx.department_ids, "ward_id"))
    seconds = h.percentile(qs, fraction=0.5, path="turnaround_seconds")
    return None if seconds is None else seconds / 60.0


def or_utilisation(ctx: Any, h: Any) -> float | None:
    rooms = OperatingRoom.objects.filter(is_active=True).filter(
        h.department_q(ctx.department_ids, "department_id")
    )
    available = 0.0
    for opens, closes in rooms.values_list("opens_at", "closes_at"):
        minutes = (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)
        available += max(0, minutes) * 60.0 * ctx.days
    if not available:
        return None
    used = 0.0
    cases = ORBooking.objects.filter(
        room__in=rooms, in_room_at__gte=ctx.start, in_room_at__lt=ctx.end, ended_at__isnull=False
    ).values_list("in_room_at", "ended_at")
    for start, end in cases:
        if start is not None and end is not None:
            used += max(0.0, (end - start).total_seconds())
    return used / available


def register(site: Any) -> None:
    f = site.field
    site.dataset(
        "resources.bed_turnaround",
        "床位周转(清洁)",
        "Bed turnaround (cleaning)",
        queryset=lambda: BedCleaning.objects.all(),
        department_path="ward_id",
        fields=(
            f("status", "dimension", "状态", "Status", path="status"),
            f("bed", "dimension", "床号", "Bed", path="bed__code"),
            f("discharged_at", "time", "出院时间", "Discharged at", path="discharged_at"),
            f("finished_at", "time", "完成时间", "Finished at", path="finished_at"),
            f(
                "turnaround_seconds",
                "measure",
                "周转时间(秒)",
                "Turnaround (seconds)",
                path="turnaround_seconds",
            ),
            f("visit_number", "dimension", "住院号", "Visit number", path="visit_number"),
        ),
        record_fields=("bed", "visit_number", "discharged_at", "finished_at", "turnaround_seconds"),
    )
    site.dataset(
        "resources.beds",
        "床位",
        "Beds",
        queryset=lambda: Bed.objects.all(),
        department_path="ward_id",
        fields=(
            f("status", "dimension", "床位状态", "Bed status", path="status", choices=BedStatus),
            f("bed_type", "dimension", "床位类型", "Bed type", path="bed_type"),
            f("bed", "dimension", "床号", "Bed", path="code"),
            f("status_since", "time", "状态开始", "Status since", path="status_since"),
        ),
        record_fields=("bed", "status", "status_since"),
    )
    site.dataset(
        "resources.or_cases",
        "手术间使用",
        "Operating-room cases",
        queryset=lambda: ORBooking.objects.all(),
        department_path="room__department_id",
        fields=(
            f("room", "dimension", "手术间", "Operating room", path="room__code"),
            f("status", "dimension", "状态", "Status", path="status"),
            f("planned_start", "time", "计划开始", "Planned start", path="planned_start"),
            f("in_room_at", "time", "入室时间", "In room at", path="in_room_at"),
            f(
                "case_seconds",
                "measure",
                "手术间占用(秒)",
                "Room time (seconds)",
                duration=("ended_at", "in_room_at"),
            ),
            f(
                "planned_minutes",
                "measure",
                "计划时长(分钟)",
                "Planned duration (minutes)",
                path="duration_minutes",
            ),
        ),
        record_fields=("room", "status", "planned_start", "in_room_at"),
    )
    site.facts("resources.open_beds", ("beds.open_days",), open_bed_facts)
    site.kpi(
        "bed_occupancy_rate",
        "床位使用率",
        "Bed occupancy rate",
        bed_occupancy_rate,
        unit="ratio",
        formula="实际占用总床日数 / 实际开放总床日数",
        order=10,
        drill_dataset="clinical.encounters",
    )
    site.kpi(
        "bed_turnover",
        "床位周转次数",
        "Bed turnover",
        bed_turnover,
        unit="times",
        formula="出院人数 / 平均开放床位数",
        order=30,
        drill_dataset="clinical.encounters",
    )
    site.kpi(
        "bed_turnaround_minutes_median",
        "床位周转时间中位数(分钟)",
        "Bed turnaround, median (minutes)",
        bed_turnaround_minutes_median,
        unit="minutes",
        formula="median(BedCleaning.turnaround_seconds) / 60",
        order=40,
        drill_dataset="resources.bed_turnaround",
    )
    site.kpi(
        "or_utilisation",
        "手术间利用率",
        "Operating-room utilisation",
        or_utilisation,
        unit="ratio",
        formula="Σ(ended_at − in_room_at) / Σ 开放时长",
        order=70,
        drill_dataset="resources.or_cases",
    )
