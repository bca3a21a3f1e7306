"""Daily facts: refreshed incrementally (the dirty days and the last two days, by a periodic
job; days are marked dirty by event handlers) and rebuilt for any range on demand."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import helpers
from .models import DailyFact, DurationFact, FactDirtyDay
from .registry import duration_sources, fact_sources

RECENT_DAYS = 2
INSERT_DURATIONS = (
    "INSERT INTO reports_durationfact (series, day, department_id, seconds, source_id) SELECT * FROM ("
)
REFRESH_SECONDS = 300.0


def facts_rebuild(day_from: dt.date, day_to: dt.date, *, sources: list[str] | None = None) -> int:
    """Recompute the facts of ``[day_from, day_to]`` from every registered source (or the named
    ones): the old rows of those keys and days are replaced in one transaction."""
    written = 0
    now = timezone.now()
    for source in fact_sources:
        if sources is not None and source.key not in sources:
            continue
        tuples = source.compute(day_from, day_to)
        merged: dict[tuple[Any, int | None, str], float] = {}
        for day, dept_id, key, value in tuples:
            merged[(day, dept_id, key)] = merged.get((day, dept_id, key), 0.0) + float(value)
        with transaction.atomic():
            DailyFact.objects.filter(key__in=source.keys, day__gte=day_from, day__lte=day_to).delete()
            DailyFact.objects.bulk_create(
                [
                    DailyFact(day=day, department_id=dept, key=key, value=value, refreshed_at=now)
                    for (day, dept, key), value in merged.items()
                    if value
                ],
                batch_size=2000,
            )
        written += len(merged)
    return written


def durations_rebuild(day_from: dt.date, day_to: dt.date) -> int:
    """Recompute the duration facts of ``[day_from, day_to]``: on PostgreSQL one
    ``INSERT … SELECT`` from the source's (Django-compiled) queryset, elsewhere through Python."""
    from django.db import connection

    written = 0
    for source in duration_sources:
        qs = source.rows(day_from, day_to)
        with transaction.atomic():
            DurationFact.objects.filter(
                series__startswith=source.prefix, day__gte=day_from, day__lte=day_to
            ).delete()
            if helpers.is_postgres():
                rows = qs.annotate(_seconds=helpers.epoch_seconds("end", "start")).values_list(
                    "series", "day", "department_id", "_seconds", "source_id"
                )
                sql, params = rows.query.sql_with_params()
                # ``sql`` is compiled by Django from the source's queryset (parameters apart): no
                # user string reaches it.
                with connection.cursor() as cursor:
                    statement = "".join((INSERT_DURATIONS, sql, ") AS src ON CONFLICT DO NOTHING"))
                    cursor.execute(
                        statement,
                        params,
                    )
                    written += cursor.rowcount
            else:
                batch = [
                    DurationFact(
                        series=series,
                        day=day,
                        department_id=dept,
                        seconds=(end - start).total_seconds(),
                        source_id=source_id,
                    )
                    for series, source_id, day, dept, end, start in qs.values_list(
                        "series", "source_id", "day", "department_id", "end", "start"
                    ).iterator(chunk_size=5000)
                    if end is not None and start is not None
                ]
                DurationFact.objects.bulk_create(batch, batch_size=2000, ignore_conflicts=True)
                written += len(batch)
    return written


def duration_percentile(ctx: Any, series: Any, fraction: float = 0.5) -> float | None:
    """The percentile of a duration series (or of several together: a list) over the context's
    days and departments."""
    qs = DurationFact.objects.filter(day__gte=ctx.day_from, day__lte=ctx.day_to)
    # a list: an index range per series (no LIKE scan)
    names = list(series) if isinstance(series, (list, tuple)) else [series]
    qs = qs.filter(series__in=names)
    if ctx.department_ids is not None:
        qs = qs.filter(department_id__in=sorted(ctx.department_ids))
    return helpers.percentile(qs, fraction=fraction, path="seconds")


def mark_dirty(moment: dt.datetime | dt.date | None) -> None:
    """Mark the day of ``moment`` (local) for the next refresh."""
    if moment is None:
        return
    day = helpers.local_date(moment) if isinstance(moment, dt.datetime) else moment
    FactDirtyDay.objects.get_or_create(day=day)


def facts_refresh_job() -> int:
    """PeriodicJob: recompute today, the recent days and every day marked dirty."""
    today = helpers.local_date(timezone.now())
    days = set(FactDirtyDay.objects.values_list("day", flat=True))
    days.update(today - dt.timedelta(days=i) for i in range(RECENT_DAYS))
    n = 0
    for day in sorted(days):
        n += facts_rebuild(day, day)
        n += durations_rebuild(day, day)
    FactDirtyDay.objects.filter(day__in=list(days)).delete()
    return n


def on_clinical_event(event: Any) -> None:
    """Subscriber: an admission, a transfer or a discharge (or its reversal) changes the bed
    facts of the day it happened and of every day since (a late message)."""
    payload = getattr(event, "payload", None) or {}
    occurred = payload.get("occurred_at")
    when = None
    if isinstance(occurred, str):
        from django.utils.dateparse import parse_datetime

        when = parse_datetime(occurred)
    today = helpers.local_date(timezone.now())
    start = helpers.local_date(when) if when else today
    start = max(start, today - dt.timedelta(days=62))
    for day in helpers.days(start, today):
        mark_dirty(day)
