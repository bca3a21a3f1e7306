"""The hospital KPIs: standard definitions (docs/reports.md) computed by the registered
providers, over a period and the departments a user may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .helpers import local_midnight
from .registry import KpiContext, kpis

STANDARD = (
    "bed_occupancy_rate",
    "average_length_of_stay",
    "bed_turnover",
    "bed_turnaround_minutes_median",
    "critical_value_timely_rate",
    "approval_cycle_hours_median",
    "or_utilisation",
)
MAX_DAYS = 3 * 366


def context(day_from: dt.date, day_to: dt.date, department_ids: frozenset[int] | None) -> KpiContext:
    return KpiContext(
        start=local_midnight(day_from),
        end=local_midnight(day_to + dt.timedelta(days=1)),
        day_from=day_from,
        day_to=day_to,
        department_ids=department_ids,
    )


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def compute(ctx: KpiContext, keys: tuple[str, ...] = STANDARD) -> dict[str, Any]:
    """``{key: value or None}`` for ``keys`` (a KPI nobody registered is ``None``)."""
    out: dict[str, Any] = {}
    for key in keys:
        if key not in kpis:
            out[key] = None
            continue
        out[key] = _round(kpis.get(key).compute(ctx))
    return out


def catalog(lang: str = "zh") -> list[dict[str, Any]]:
    zh = lang.startswith("zh")
    return [
        {
            "key": k.key,
            "label": k.label_zh if zh else k.label_en,
            "unit": k.unit,
            "formula": k.formula,
            "drill_dataset": k.drill_dataset,
        }
        for k in sorted(kpis, key=lambda k: k.order)
    ]
