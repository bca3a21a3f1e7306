"""The reports' demo loader builds the facts of the history the other loaders write."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from medoa.core.registries import demo_loaders
from medoa.core.runtime.demo import run_demo_loaders
from medoa.engines.reports import kpis
from medoa.engines.reports.models import DailyFact


def test_the_demo_cockpit_opens_on_a_month_of_figures(db: Any) -> None:
    keys = ("org", "resources", "resources_or", "reports")
    run_demo_loaders(password="Demo@Pass-2026", loaders=[demo_loaders.get(k) for k in keys])
    today = timezone.localdate()
    month_ago = today - dt.timedelta(days=30)
    assert DailyFact.objects.filter(day=month_ago).exists()
    values = kpis.compute(kpis.context(month_ago, today - dt.timedelta(days=1), None), kpis.STANDARD)
    assert 0.7 < values["bed_occupancy_rate"] <= 1.0
    assert 2 <= values["average_length_of_stay"] <= 12
    assert values["or_utilisation"] > 0.2
