"""The report API (mounted at /api/v1/reports): KPIs, datasets, queries, drill-down records."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from ninja import Router
from ninja.errors import HttpError

from medoa.core.access.models import User
from medoa.core.apierrors import in_both
from medoa.core.org.models import Department

from . import access, kpis, query
from .registry import datasets

router = Router(tags=["reports"])


def _http_error(status: int, message: Any, **extra: Any) -> HttpError:
    error = HttpError(status, message)
    if extra:
        error.extra = extra  # type: ignore[attr-defined]
    return error


def _field_error(field: str, message: Any) -> dict[str, str]:
    zh, en = in_both(message)
    return {"field": field, "message": zh, "message_en": en, "type": "invalid"}


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise _http_error(401, _("Authentication required: send a valid bearer token."))
    return user


def _invalid(field: str, message: Any) -> HttpError:
    return _http_error(422, message, errors=[_field_error(field, message)])


def parse_period(raw_from: str | None, raw_to: str | None) -> tuple[dt.date, dt.date]:
    """``from``/``to`` as YYYY-MM-DD (both inclusive); 422 naming the field otherwise."""
    parsed: dict[str, dt.date] = {}
    for name, raw in (("from", raw_from), ("to", raw_to)):
        if not raw:
            raise _invalid(name, _("This field is required."))
        try:
            parsed[name] = dt.date.fromisoformat(raw)
        except ValueError:
            raise _invalid(name, _("Must be a date as YYYY-MM-DD.")) from None
        if len(raw) != 10:
            raise _invalid(name, _("Must be a date as YYYY-MM-DD."))
    if parsed["to"] < parsed["from"]:
        raise _invalid("to", _("The end date must not be before the start date."))
    if (parsed["to"] - parsed["from"]).days >= kpis.MAX_DAYS:
        raise _invalid("to", _("The period must be at most three years."))
    return parsed["from"], parsed["to"]


def department_scope(user: User, code: str | None) -> frozenset[int] | None:
    department = None
    if code:
        department = Department.objects.filter(code=code).first()
        if department is None:
            raise _invalid("department", _("No department with this code."))
    try:
        return access.kpi_departments(user, department)
    except access.Forbidden:
        raise _http_error(403, _("You may not see the figures of this department.")) from None


@router.get("/kpis", summary="Hospital KPIs for a period (and a department)")
def kpis_get(request: HttpRequest, **params: Any) -> Any:
    user = _user(request)
    day_from, day_to = parse_period(request.GET.get("from"), request.GET.get("to"))
    ids = department_scope(user, request.GET.get("department") or None)
    return kpis.compute(kpis.context(day_from, day_to, ids))


@router.get("/kpis/catalog", summary="The registered KPIs with their definitions")
def kpis_catalog(request: HttpRequest) -> Any:
    _user(request)
    return kpis.catalog(get_language() or "zh")


def _by_department(
    children: Any, paths: list[tuple[int, str]], scope: frozenset[int] | None, context: Any, key: str
) -> list[dict[str, Any]]:
    out = []
    for child in children.order_by("sort_order", "code")[:60]:
        ids = frozenset(pk for pk, path in paths if path.startswith(child.path))
        if scope is not None:
            ids = ids & scope
        if not ids:
            continue
        value = kpis.compute(context(ids), (key,))[key]
        if value is not None:
            out.append({"department": child.code, "name": child.name_zh, "value": value})
    return out


@router.get("/kpis/by-department", summary="One KPI per department (drill-down)")
def kpis_by_department(request: HttpRequest) -> Any:
    user = _user(request)
    day_from, day_to = parse_period(request.GET.get("from"), request.GET.get("to"))
    key = request.GET.get("kpi") or ""
    if key not in {k["key"] for k in kpis.catalog()}:
        raise _invalid("kpi", _("Unknown figure."))
    parent_code = request.GET.get("department") or None
    scope = department_scope(user, parent_code)
    if parent_code:
        children = Department.objects.filter(parent__code=parent_code)
    elif scope is None:
        children = Department.objects.filter(parent__parent__isnull=True, parent__isnull=False)
    else:
        children = Department.objects.filter(pk__in=scope).exclude(parent_id__in=scope)
    paths = list(Department.objects.values_list("pk", "path"))  # one query for every subtree
    context = partial(kpis.context, day_from, day_to)
    out = _by_department(children, paths, scope, context, key)
    for _level in range(5):  # a level where one department has the figure (one campus) is passed
        if len(out) != 1:
            break
        below = Department.objects.filter(parent__code=out[0]["department"])
        deeper = _by_department(below, paths, scope, context, key)
        if not deeper:
            break
        out = deeper
    return {"kpi": key, "rows": out}


@router.get("/datasets", summary="The registered datasets and their fields")
def datasets_list(request: HttpRequest) -> Any:
    _user(request)
    lang = get_language() or "zh"
    return [
        {
            "key": ds.key,
            "label": ds.label(lang),
            "fields": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "label": f.label(lang),
                    "duration": bool(f.duration),
                    "boolean": f.boolean,
                }
                for f in ds.fields
            ]
            + (
                [
                    {
                        "name": "department",
                        "kind": "dimension",
                        "label": "科室" if lang.startswith("zh") else "Department",
                        "duration": False,
                        "boolean": False,
                    }
                ]
                if ds.department_path
                else []
            ),
        }
        for ds in datasets
    ]


@router.post("/query", summary="Run a report query (fields by registered name)")
def query_run(request: HttpRequest) -> Any:
    import json

    user = _user(request)
    try:
        spec = json.loads(request.body or b"{}")
    except ValueError:
        raise _invalid("body", _("Cannot parse request body")) from None
    try:
        result = query.run(spec, user, lang=get_language() or "zh")
    except query.QueryError as exc:
        raise _invalid(exc.field, exc.message) from None
    return {"columns": result.columns, "rows": result.rows, "totals": result.totals}


@router.get("/records", summary="The records behind a number (first 200)")
def records(request: HttpRequest) -> Any:
    user = _user(request)
    key = request.GET.get("dataset")
    if not key or key not in datasets:
        raise _invalid("dataset", _("Unknown dataset."))
    ds = datasets.get(key)
    filters = []
    dept = request.GET.get("department")
    if dept:
        ids = department_scope(user, dept)
        if ids is not None and ds.department_path:
            filters.append({"field": "department", "op": "in", "value": sorted(ids)})
    if request.GET.get("from") and request.GET.get("to"):
        day_from, day_to = parse_period(request.GET.get("from"), request.GET.get("to"))
        time_field = next((f for f in ds.fields if f.kind == "time"), None)
        if time_field is not None:
            filters.append({"field": time_field.name, "op": "gte", "value": day_from.isoformat()})
            end = (day_to + dt.timedelta(days=1)).isoformat()
            filters.append({"field": time_field.name, "op": "lt", "value": end})
    try:
        qs = query.base_rows(ds, user, filters)
        names = list(ds.record_fields)
        paths = [ds.field(n).path for n in names]
    except query.QueryError as exc:
        raise _invalid(exc.field, exc.message) from None
    # a category with labelled values shows its label (已出院, not "discharged")
    labels = [ds.field(n).choices for n in names]
    rows = [
        [(str(lab[v]) if lab and v in lab else query._plain(v)) for v, lab in zip(row, labels, strict=True)]
        for row in qs.order_by("-pk").values_list(*paths)[:200]
    ]
    lang = get_language() or "zh"
    return {"columns": [ds.field(n).label(lang) for n in names], "fields": names, "rows": rows}
