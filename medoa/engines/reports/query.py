"""The query compiler: a JSON spec → a Django ORM query over a registered dataset.

Fields are addressed by their registered names only; the compiler looks each up in the dataset
and uses the ORM path the module registered, so no user string ever reaches SQL. Row-level
access is applied first (the data scope of the dataset's permission), before any filter.

Spec::

    {"dataset": "clinical.encounters",
     "measures": [{"op": "count"}, {"op": "avg", "field": "los_days"}, {"op": "p50", "field": "..."}],
     "dimensions": [{"field": "department"}, {"field": "admitted_at", "grain": "month"}],
     "filters": [{"field": "status", "op": "eq", "value": "discharged"}],
     "sort": [{"by": "m0", "desc": true}], "limit": 200}
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import helpers
from .access import dataset_rows_q
from .registry import Dataset, Field, datasets

OPS = ("count", "count_distinct", "sum", "avg", "ratio", "p50", "p90", "p95")
FRACTIONS = {"p50": 0.5, "p90": 0.9, "p95": 0.95}
GRAINS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
FILTER_OPS = ("eq", "ne", "in", "gte", "lte", "gt", "lt", "isnull")
MAX_LIMIT = 5000


class QueryError(Exception):
    """A bad spec: ``field`` names the spec member, ``message`` says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Result:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    totals: list[Any]


def _dataset(key: Any) -> Dataset:
    if not isinstance(key, str) or key not in datasets:
        raise QueryError("dataset", f"unknown dataset {key!r}")
    return datasets.get(key)


def _field(ds: Dataset, name: Any, where: str) -> Field:
    if not isinstance(name, str):
        raise QueryError(where, "a field name is required")
    if name == "department" and ds.department_path:
        return Field("department", "dimension", "科室", "Department", path=ds.department_path)
    try:
        return ds.field(name)
    except KeyError:
        raise QueryError(where, f"unknown field {name!r} in dataset {ds.key}") from None


def _coerce(value: Any, where: str) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, str):
        if len(value) > 200:
            raise QueryError(where, "value too long")
        parsed_dt = parse_datetime(value) if "T" in value else None
        if parsed_dt:
            return parsed_dt if timezone.is_aware(parsed_dt) else timezone.make_aware(parsed_dt)
        try:
            parsed_d = parse_date(value)
        except ValueError:
            parsed_d = None
        if parsed_d:
            return helpers.local_midnight(parsed_d)
        return value
    raise QueryError(where, "value must be a string, number or boolean")


def _filters(ds: Dataset, spec: list[Any]) -> Q:
    q = Q()
    if not isinstance(spec, list):
        raise QueryError("filters", "must be a list")
    for i, item in enumerate(spec):
        where = f"filters[{i}]"
        if not isinstance(item, dict):
            raise QueryError(where, "must be an object")
        f = _field(ds, item.get("field"), f"{where}.field")
        if f.duration:
            raise QueryError(f"{where}.field", "a duration cannot be filtered")
        op = item.get("op", "eq")
        if op not in FILTER_OPS:
            raise QueryError(f"{where}.op", f"must be one of {', '.join(FILTER_OPS)}")
        value = item.get("value")
        if op == "in":
            if not isinstance(value, list) or len(value) > 500:
                raise QueryError(f"{where}.value", "must be a list (at most 500 values)")
            q &= Q(**{f"{f.path}__in": [_coerce(v, f"{where}.value") for v in value]})
        elif op == "isnull":
            q &= Q(**{f"{f.path}__isnull": bool(value)})
        elif op == "eq":
            q &= Q(**{f.path: _coerce(value, f"{where}.value")})
        elif op == "ne":
            q &= ~Q(**{f.path: _coerce(value, f"{where}.value")})
        else:
            q &= Q(**{f"{f.path}__{op}": _coerce(value, f"{where}.value")})
    return q


def base_rows(ds: Dataset, user: Any, filters: list[Any] | None = None) -> QuerySet[Any]:
    """The dataset's rows ``user`` may see, filtered."""
    qs = ds.queryset().filter(dataset_rows_q(ds, user))
    if filters:
        qs = qs.filter(_filters(ds, filters))
    return qs


def run(spec: dict[str, Any], user: Any, *, lang: str = "zh") -> Result:
    if not isinstance(spec, dict):
        raise QueryError("spec", "must be an object")
    ds = _dataset(spec.get("dataset"))
    measures = spec.get("measures") or [{"op": "count"}]
    dims = spec.get("dimensions") or []
    if not isinstance(measures, list) or not 1 <= len(measures) <= 10:
        raise QueryError("measures", "1 to 10 measures")
    if not isinstance(dims, list) or len(dims) > 3:
        raise QueryError("dimensions", "at most 3 dimensions")
    qs = base_rows(ds, user, spec.get("filters") or [])

    group_names: list[str] = []
    annotations: dict[str, Any] = {}
    columns: list[dict[str, str]] = []
    for i, dim in enumerate(dims):
        if not isinstance(dim, dict):
            raise QueryError(f"dimensions[{i}]", "must be an object")
        f = _field(ds, dim.get("field"), f"dimensions[{i}].field")
        if f.kind == "measure" or f.duration:
            raise QueryError(f"dimensions[{i}].field", f"{f.name} is a measure, not a dimension")
        alias = f"d{i}"
        if f.kind == "time":
            grain = dim.get("grain", "day")
            if grain not in GRAINS:
                raise QueryError(f"dimensions[{i}].grain", "must be day, week or month")
            if _is_date_only(ds, f.path):
                annotations[alias] = GRAINS[grain](f.path)
            else:
                annotations[alias] = GRAINS[grain](f.path, tzinfo=timezone.get_default_timezone())
        else:
            annotations[alias] = F(f.path)
        group_names.append(alias)
        columns.append({"key": alias, "label": f.label(lang), "kind": "dimension", "field": f.name})

    aggregates: dict[str, Any] = {}
    python_percentiles: dict[str, tuple[Field, float]] = {}
    ratio_parts: dict[str, str] = {}
    for i, m in enumerate(measures):
        if not isinstance(m, dict):
            raise QueryError(f"measures[{i}]", "must be an object")
        op = m.get("op")
        if op not in OPS:
            raise QueryError(f"measures[{i}].op", f"must be one of {', '.join(OPS)}")
        alias = f"m{i}"
        label = str(m.get("label") or "")
        if op == "count":
            aggregates[alias] = Count("pk")
            label = label or ("记录数" if lang.startswith("zh") else "Rows")
        else:
            f = _field(ds, m.get("field"), f"measures[{i}].field")
            label = label or f"{op}({f.label(lang)})"
            if op == "count_distinct":
                aggregates[alias] = Count(f.path, distinct=True)
            elif op in ("sum", "avg"):
                if f.duration:
                    if helpers.is_postgres():
                        expr: Any = helpers.epoch_seconds(*f.duration)
                        aggregates[alias] = (Sum if op == "sum" else Avg)(expr)
                    else:
                        python_percentiles[alias] = (f, -1.0 if op == "sum" else -2.0)
                else:
                    aggregates[alias] = (Sum if op == "sum" else Avg)(f.path)
            elif op == "ratio":
                if not f.boolean:
                    raise QueryError(f"measures[{i}].field", "a ratio needs a yes/no field")
                aggregates[f"{alias}_n"] = Count("pk", filter=Q(**{f.path: True}))
                aggregates[f"{alias}_d"] = Count("pk", filter=Q(**{f"{f.path}__isnull": False}))
                ratio_parts[alias] = f.name
            else:
                if f.kind != "measure":
                    raise QueryError(f"measures[{i}].field", "percentiles need a numeric or duration field")
                fraction = FRACTIONS[op]
                if helpers.is_postgres():
                    expr = helpers.epoch_seconds(*f.duration) if f.duration else F(f.path)
                    aggregates[alias] = helpers.PercentileCont(expr, fraction)
                else:
                    python_percentiles[alias] = (f, fraction)
        columns.append({"key": alias, "label": label, "kind": "measure", "op": op})

    if group_names:
        grouped = qs.annotate(**annotations).values(*group_names)
        rows_q = grouped.annotate(**aggregates) if aggregates else grouped.annotate().distinct()
        raw = list(rows_q.order_by(*group_names)[: MAX_LIMIT * 4])
    else:
        raw = [qs.aggregate(**aggregates)] if aggregates else [{}]

    if python_percentiles:
        _python_measures(qs, annotations, group_names, python_percentiles, raw)

    for alias in ratio_parts:
        for r in raw:
            r[alias] = helpers.ratio(r.pop(f"{alias}_n", 0), r.pop(f"{alias}_d", 0))

    measure_keys = [c["key"] for c in columns if c["kind"] == "measure"]
    rows = [[_plain(r.get(c["key"])) for c in columns] for r in raw]
    _label_departments(columns, rows)
    rows = _sort(rows, columns, spec.get("sort") or [])
    limit = spec.get("limit", 500)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError("limit", f"1 to {MAX_LIMIT}")
    rows = rows[:limit]
    totals = _totals(qs, spec, measures, columns, measure_keys, rows, user, lang) if group_names else rows[0]
    return Result(columns=columns, rows=rows, totals=totals)


def _python_measures(
    qs: QuerySet[Any],
    annotations: dict[str, Any],
    group_names: list[str],
    wanted: dict[str, tuple[Field, float]],
    raw: list[dict[str, Any]],
) -> None:
    """SQLite: percentiles (and duration sums/averages) computed in Python per group."""
    for alias, (f, fraction) in wanted.items():
        cols = [f.duration[0], f.duration[1]] if f.duration else [f.path]
        values: dict[tuple[Any, ...], list[float]] = defaultdict(list)
        source = qs.annotate(**annotations) if annotations else qs
        for rec in source.values_list(*group_names, *cols):
            key = tuple(rec[: len(group_names)])
            vals = rec[len(group_names) :]
            if f.duration:
                if vals[0] is None or vals[1] is None:
                    continue
                values[key].append((vals[0] - vals[1]).total_seconds())
            elif vals[0] is not None:
                values[key].append(float(vals[0]))
        for r in raw:
            key = tuple(r[g] for g in group_names)
            data = values.get(key, [])
            if fraction == -1.0:
                r[alias] = sum(data) if data else None
            elif fraction == -2.0:
                r[alias] = sum(data) / len(data) if data else None
            else:
                r[alias] = helpers.percentile_of(data, fraction)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    if hasattr(value, "quantize"):
        return float(value)
    return value


def _sort(rows: list[list[Any]], columns: list[dict[str, str]], sort: Any) -> list[list[Any]]:
    if not isinstance(sort, list):
        raise QueryError("sort", "must be a list")
    keys = [c["key"] for c in columns]
    for i, item in reversed(list(enumerate(sort))):
        by = item.get("by") if isinstance(item, dict) else None
        if by not in keys:
            raise QueryError(f"sort[{i}].by", f"must be one of {', '.join(keys)}")
        idx = keys.index(by)
        desc = bool(item.get("desc"))
        rows.sort(key=lambda r: (r[idx] is None, r[idx] if r[idx] is not None else 0), reverse=desc)
    return rows


def _totals(
    qs: QuerySet[Any],
    spec: dict[str, Any],
    measures: list[Any],
    columns: list[dict[str, str]],
    measure_keys: list[str],
    rows: list[list[Any]],
    user: Any,
    lang: str,
) -> list[Any]:
    """The table's total row: every measure over all rows (not the sum of group percentiles)."""
    overall = run({**spec, "dimensions": [], "sort": [], "limit": 1}, user, lang=lang)
    by_key = dict(zip([c["key"] for c in overall.columns], overall.rows[0], strict=False))
    return [
        ("合计" if lang.startswith("zh") else "Total")
        if i == 0 and c["kind"] == "dimension"
        else (by_key.get(c["key"]) if c["kind"] == "measure" else None)
        for i, c in enumerate(columns)
    ]


def _is_date_only(ds: Dataset, path: str) -> bool:
    """Is ``path`` a DateField (no time zone conversion when truncating)?"""
    from django.db import models

    model = ds.queryset().model
    field: Any = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
    return isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField)


def _label_departments(columns: list[dict[str, str]], rows: list[list[Any]]) -> None:
    from medoa.core.org.models import Department

    for idx, col in enumerate(columns):
        if col.get("field") != "department":
            continue
        ids = {r[idx] for r in rows if isinstance(r[idx], int)}
        names = dict(Department.objects.filter(pk__in=ids).values_list("pk", "name_zh"))
        for r in rows:
            r[idx] = names.get(r[idx], r[idx])
