"""Report datasets and KPIs of the roster module. Discovered by the report engine:
``register(site)``.

Roster coverage = Σ over (day, ward, shift type) of min(staff on that shift, demand minimum) /
Σ demand minimum, over published rosters; a date-specific demand replaces the weekday one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from .choices import RosterStatus, ShiftKind
from .models import Demand, RosterCell


def cells() -> Any:
    return RosterCell.objects.filter(roster__status=RosterStatus.PUBLISHED).exclude(
        shift_type__kind=ShiftKind.OFF
    )


def roster_coverage(ctx: Any, h: Any) -> float | None:
    rows = (
        cells()
        .filter(date__gte=ctx.day_from, date__lte=ctx.day_to)
        .filter(h.department_q(ctx.department_ids, "roster__ward_id"))
    )
    staffed = Counter(rows.values_list("date", "roster__ward_id", "shift_type_id"))
    demands = Demand.objects.filter(minimum__gt=0).filter(h.department_q(ctx.department_ids, "ward_id"))
    by_weekday: dict[tuple[int, int, int], int] = {}
    by_date: dict[tuple[dt.date, int, int], int] = {}
    for ward, shift, weekday, on_date, minimum in demands.values_list(
        "ward_id", "shift_type_id", "weekday", "on_date", "minimum"
    ):
        if on_date is not None:
            by_date[(on_date, ward, shift)] = minimum
        elif weekday is not None:
            by_weekday[(weekday, ward, shift)] = minimum
    wards_shifts = {(w, s) for (_wd, w, s) in by_weekday} | {(w, s) for (_d, w, s) in by_date}
    need = met = 0
    for day in h.days(ctx.day_from, ctx.day_to):
        for ward, shift in wards_shifts:
            minimum = by_date.get((day, ward, shift), by_weekday.get((day.weekday(), ward, shift), 0))
            if minimum:
                need += minimum
                met += min(minimum, staffed.get((day, ward, shift), 0))
    return h.ratio(met, need)


def register(site: Any) -> None:
    f = site.field
    site.dataset(
        "roster.cells",
        "排班",
        "Roster shifts",
        queryset=cells,
        department_path="roster__ward_id",
        fields=(
            f("shift", "dimension", "班次", "Shift", path="shift_type__code"),
            f(
                "shift_kind",
                "dimension",
                "班次类型",
                "Shift kind",
                path="shift_type__kind",
                choices=ShiftKind,
            ),
            f("staff", "dimension", "人员", "Staff", path="staff__name"),
            f("date", "time", "日期", "Date", path="date"),
            f("hours", "measure", "工时", "Hours", path="shift_type__hours"),
        ),
        record_fields=("date", "shift", "staff"),
    )
    site.kpi(
        "roster_coverage",
        "排班覆盖率",
        "Roster coverage",
        roster_coverage,
        unit="ratio",
        formula="Σ min(在岗人数, 最低需求) / Σ 最低需求",
        order=80,
        drill_dataset="roster.cells",
    )
