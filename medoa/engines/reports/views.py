"""Report pages: the cockpit (per role), the builder, exports. The pages fetch their numbers from
``/reports/data/…`` (session) — the same code as the API."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from ninja.errors import HttpError

from medoa.core.access.policy import has_role
from medoa.core.apierrors import in_both

from . import access, api, kpis, query
from . import export as exports
from .registry import datasets


def _error(exc: HttpError) -> JsonResponse:
    zh, en = in_both(exc.message)
    body: dict[str, Any] = {"detail": zh, "detail_en": en}
    body.update(getattr(exc, "extra", {}) or {})
    return JsonResponse(body, status=exc.status_code)


def _api_json(compute: Callable[[HttpRequest], Any], request: HttpRequest) -> JsonResponse:
    """An API function's answer as JSON for the pages; its ``HttpError`` as the API gives it."""
    try:
        return JsonResponse(compute(request))
    except HttpError as exc:
        return _error(exc)


def _download(title: str, result: Any, fmt: str, *, chart: str, name: str) -> HttpResponse:
    """A query's ``result`` as an .xlsx or PDF download ``<name>.<fmt>`` (404 for another format)."""
    if fmt == "xlsx":
        body = exports.to_xlsx(title, result)
        ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif fmt == "pdf":
        body = exports.to_pdf(title, result, chart=chart)
        ctype = "application/pdf"
    else:
        return HttpResponse(status=404)
    response = HttpResponse(body, content_type=ctype)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def _default_period() -> tuple[str, str]:
    today = timezone.localdate()
    return (today - dt.timedelta(days=29)).isoformat(), today.isoformat()


def _home_department(request: HttpRequest) -> str:
    """Hospital-wide users start at the hospital; a department head / head nurse at their own."""
    if access.allowed_department_ids(request.user) is None:
        return ""
    staff = getattr(request.user, "staff", None)
    return staff.department.code if staff is not None and staff.department_id else ""


@login_required
def cockpit(request: HttpRequest) -> HttpResponse:
    if not access.may_view(request.user):
        return HttpResponse(status=403)
    start, end = _default_period()
    role = (
        "dean"
        if has_role(request.user, "dean") or has_role(request.user, "vice_dean")
        else "head_nurse"
        if has_role(request.user, "head_nurse")
        else "dept_head"
        if has_role(request.user, "dept_head")
        else "medical_affairs"
        if has_role(request.user, "medical_affairs")
        else "nursing_dept"
        if has_role(request.user, "nursing_dept")
        else "quality_office"
        if has_role(request.user, "quality_office")
        else "office"
    )
    config = {
        "from": start,
        "to": end,
        "department": request.GET.get("department") or _home_department(request),
        "role": role,
        "refresh_seconds": 60,
        "catalog": kpis.catalog(get_language() or "zh"),
    }
    return render(request, "reports/cockpit.html", {"config": config, "role": role})


@login_required
def builder(request: HttpRequest) -> HttpResponse:
    if not access.may_view(request.user):
        return HttpResponse(status=403)
    from .services import CHARTS

    config = {"datasets": api.datasets_list(request), "charts": list(CHARTS)}
    return render(request, "reports/builder.html", {"config": config})


@login_required
def data_kpis(request: HttpRequest) -> JsonResponse:
    return _api_json(api.kpis_get, request)


@login_required
def data_by_department(request: HttpRequest) -> JsonResponse:
    return _api_json(api.kpis_by_department, request)


@login_required
def data_records(request: HttpRequest) -> JsonResponse:
    return _api_json(api.records, request)


@login_required
def data_query(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"detail": "POST"}, status=405)
    return _api_json(api.query_run, request)


@login_required
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    """``?spec=<json>&chart=bar`` → .xlsx or PDF of a query."""
    try:
        spec = json.loads(request.GET.get("spec") or "{}")
        result = query.run(spec, request.user, lang=get_language() or "zh")
    except (ValueError, query.QueryError) as exc:
        return JsonResponse({"detail": str(exc)}, status=422)
    title = datasets.get(spec["dataset"]).label("zh")
    return _download(title, result, fmt, chart=request.GET.get("chart", "bar"), name="report")


def _saved_out(report: Any) -> dict[str, Any]:
    return {
        "id": report.pk,
        "name": report.name,
        "dataset": report.dataset,
        "spec": report.spec,
        "chart": report.chart,
        "shared_roles": report.shared_roles,
        "schedule": report.schedule,
        "schedule_format": report.schedule_format,
        "schedule_weekday": report.schedule_weekday,
        "owner": report.owner_id,
    }


@login_required
def data_saved(request: HttpRequest) -> JsonResponse:
    """GET: the reports the user may open; POST: save one (``id`` to change one's own)."""
    from . import services
    from .models import SavedReport

    if request.method == "GET":
        return JsonResponse({"reports": [_saved_out(r) for r in services.reports_visible(request.user)]})
    if not access.may_view(request.user):
        return JsonResponse({"detail": "forbidden"}, status=403)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "Cannot parse request body"}, status=400)
    report = None
    if data.get("id"):
        report = SavedReport.objects.filter(pk=data["id"]).first()
        if report is None:
            return JsonResponse({"detail": "not found"}, status=404)
    try:
        report = services.report_save(actor=request.user, data=data, report=report)
    except services.ReportInputError as exc:
        return JsonResponse(
            {"detail": exc.message, "errors": [{"field": exc.field, "message": exc.message}]}, status=422
        )
    except access.Forbidden:
        return JsonResponse({"detail": "forbidden"}, status=403)
    return JsonResponse(_saved_out(report), status=201)


@login_required
def saved_export(request: HttpRequest, report_id: int, fmt: str) -> HttpResponse:
    """A saved report's export, run with the data scope of the person opening it."""
    from . import services

    report = services.reports_visible(request.user).filter(pk=report_id).first()
    if report is None:
        return HttpResponse(status=404)
    try:
        result = query.run(report.spec, request.user, lang=get_language() or "zh")
    except query.QueryError as exc:
        return JsonResponse({"detail": str(exc)}, status=422)
    return _download(report.name, result, fmt, chart=report.chart, name=f"report-{report.pk}")


@login_required
def data_ward(request: HttpRequest) -> JsonResponse:
    from .cards import ward_panel

    if not access.may_view(request.user):
        return JsonResponse({"detail": "forbidden"}, status=403)
    return JsonResponse(ward_panel(request.user))
