"""Workbench card "Key figures" and the ward panel: the user's scope, from registered datasets and
KPIs (the engine names no module: a missing dataset or KPI is left out)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from . import access, kpis, query
from .registry import datasets
from .registry import kpis as kpi_registry


def key_figures_card(request: HttpRequest) -> dict[str, Any]:
    scope = access.allowed_department_ids(request.user)
    if scope is not None and not scope:
        return {"figures": []}
    today = timezone.localdate()
    ctx = kpis.context(today - dt.timedelta(days=6), today, scope)
    values = kpis.compute(ctx, ("bed_occupancy_rate", "average_length_of_stay", "critical_value_timely_rate"))
    labels = {k["key"]: k for k in kpis.catalog()}
    figures = []
    for key, value in values.items():
        if key not in labels:
            continue
        unit = labels[key]["unit"]
        text = "—" if value is None else (f"{value * 100:.1f}%" if unit == "ratio" else f"{value:.1f}")
        figures.append({"label": labels[key]["label"], "value": text})
    return {"figures": figures}


def ward_panel(user: Any) -> dict[str, Any]:
    """Beds by status, open critical values, today's roster coverage — within the user's scope."""
    out: dict[str, Any] = {}
    if "resources.beds" in datasets:
        res = query.run({"dataset": "resources.beds", "dimensions": [{"field": "status"}]}, user)
        out["beds"] = [{"status": r[0], "count": r[1]} for r in res.rows]
    if "quality.critical_values" in datasets:
        res = query.run(
            {
                "dataset": "quality.critical_values",
                "filters": [{"field": "status", "op": "in", "value": ["open", "escalated", "acknowledged"]}],
            },
            user,
        )
        out["open_critical_values"] = res.rows[0][0] if res.rows else 0
    if "roster_coverage" in kpi_registry:
        today = timezone.localdate()
        scope = access.allowed_department_ids(user)
        out["roster_coverage_today"] = kpi_registry.get("roster_coverage").compute(
            kpis.context(today, today, scope)
        )
    return out
