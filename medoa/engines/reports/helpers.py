"""Helpers for KPI providers and the query compiler: percentiles (SQL on PostgreSQL, Python on
SQLite), department narrowing, daily-fact sums, local day bounds."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection
from django.db.models import Aggregate, CharField, F, FloatField, Func, Q, QuerySet, Sum, Value
from django.db.models.functions import Concat, TruncDate
from django.utils import timezone

ALLOWED_FRACTIONS = (0.5, 0.75, 0.9, 0.95, 0.99)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


class PercentileCont(Aggregate):
    """``percentile_cont(p) WITHIN GROUP (ORDER BY expr)`` (PostgreSQL); ``p`` from a fixed list."""

    function = "percentile_cont"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if fraction not in ALLOWED_FRACTIONS:
            raise ValueError(f"fraction must be one of {ALLOWED_FRACTIONS}")
        super().__init__(expression, **extra)
        self.fraction = fraction

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> Any:
        template = f"%(function)s({self.fraction!r}) WITHIN GROUP (ORDER BY %(expressions)s)"
        return super().as_sql(compiler, connection, function=function, template=template, **extra_context)


def epoch_seconds(end: str, start: str) -> Func:
    """Seconds between two timestamp columns (PostgreSQL expression)."""
    return Func(F(end) - F(start), template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField())


def percentile_of(values: Iterable[float | None], fraction: float) -> float | None:
    """Linear-interpolation percentile (the same definition as PostgreSQL's percentile_cont)."""
    data = sorted(float(v) for v in values if v is not None)
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    pos = fraction * (len(data) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def percentile(
    qs: QuerySet[Any], *, fraction: float = 0.5, path: str = "", duration: tuple[str, str] | None = None
) -> float | None:
    """The percentile of a numeric column (``path``) or of a duration in seconds (``duration`` =
    (end, start)) over ``qs``: in SQL on PostgreSQL, in Python elsewhere."""
    if is_postgres():
        expr: Any = epoch_seconds(*duration) if duration else F(path)
        value = qs.aggregate(v=PercentileCont(expr, fraction))["v"]
        return None if value is None else float(value)
    if duration:
        end, start = duration
        pairs = qs.exclude(**{f"{end}__isnull": True}).values_list(end, start)
        return percentile_of(((e - s).total_seconds() for e, s in pairs if e and s), fraction)
    return percentile_of(qs.values_list(path, flat=True), fraction)


def department_q(department_ids: frozenset[int] | None, *paths: str) -> Q:
    """Rows whose department (through any of ``paths``, ORM paths to org.Department) is one of
    ``department_ids``; everything when ``None``."""
    if department_ids is None:
        return Q()
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(**{f"{path}__in": list(department_ids)})
    return q


def facts_sum(ctx: Any, key: str) -> float:
    """The sum of daily fact ``key`` over the context's days and departments."""
    from .models import DailyFact

    qs = DailyFact.objects.filter(key=key, day__gte=ctx.day_from, day__lte=ctx.day_to)
    if ctx.department_ids is not None:
        qs = qs.filter(department_id__in=list(ctx.department_ids))
    return float(qs.aggregate(v=Sum("value"))["v"] or 0.0)


def local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


def duration_rows(
    queryset: Callable[[], QuerySet[Any]],
    day_from: dt.date,
    day_to: dt.date,
    *,
    prefix: str,
    series: str,
    end: str,
    start: str,
    department: str = "department_id",
) -> QuerySet[Any]:
    """The rows of ``queryset()`` whose ``end`` falls on the local days ``[day_from, day_to]``, as
    duration-fact rows (``registry.DurationSource``): ``series`` = ``prefix`` + the value at the
    ``series`` path, ``source_id``, ``day`` (local), ``department_id`` (the ``department`` path),
    ``end``, ``start``."""
    tz = timezone.get_default_timezone()
    qs = queryset().filter(
        **{
            f"{end}__gte": local_midnight(day_from),
            f"{end}__lt": local_midnight(day_to + dt.timedelta(days=1)),
        }
    )
    columns: dict[str, Any] = {
        "series": Concat(Value(prefix), F(series), output_field=CharField()),
        "source_id": F("pk"),
        "day": TruncDate(end, tzinfo=tz),
    }
    if department != "department_id":  # else the model's own column
        columns["department_id"] = F(department)
    return qs.annotate(**columns, end=F(end), start=F(start))


def local_date(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def days(day_from: dt.date, day_to: dt.date) -> list[dt.date]:
    return [day_from + dt.timedelta(days=i) for i in range((day_to - day_from).days + 1)]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not denominator or numerator is None:
        return None
    return float(numerator) / float(denominator)


def duration_percentile(ctx: Any, series: Any, fraction: float = 0.5) -> float | None:
    """See ``facts.duration_percentile`` (pre-aggregated duration facts)."""
    from .facts import duration_percentile as compute

    return compute(ctx, series, fraction)
