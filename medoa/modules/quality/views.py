"""The critical-value pages (mounted at /quality/): the list with timeliness, the alert page
(phone-first: acknowledge with one tap, record the action taken and close), the time limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from medoa.core.org.models import Department

from . import selectors, services
from .errors import AlertNotFound, QualityError
from .models import AlertStatus, CriticalValueLimit

PAGE_SIZE = 50


def _period(request: HttpRequest) -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    since = parse_date(request.GET.get("from", "") or "") or today.replace(day=1)
    until = parse_date(request.GET.get("to", "") or "") or today
    if until < since:
        since, until = until, since
    return since, until


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@login_required
@require_GET
def critical_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in selectors.STATUS_FILTERS:
        status = ""
    wide = selectors.may_list(request.user)
    mine = request.GET.get("mine") == "1" or not wide
    since, until = _period(request)
    try:
        department_id = int(request.GET.get("department", "") or 0) or None
    except ValueError:
        department_id = None
    window = {"since": _aware(since), "until": _aware(until + dt.timedelta(days=1))}
    qs = selectors.alerts_for_user(
        request.user, status=status, mine=mine, department_id=department_id, **window
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    names = selectors.display_names([a.responsible_id for a in page.object_list])
    for a in page.object_list:
        a.responsible_name = names.get(a.responsible_id or 0) or (
            a.responsible.get_username() if a.responsible else ""
        )
    rows, total = selectors.timeliness(request.user, **window) if wide else ([], None)
    departments = (
        Department.objects.filter(pk__in=[r.department_id for r in rows if r.department_id]).order_by("path")
        if wide
        else []
    )
    return render(
        request,
        "quality/critical_list.html",
        {
            "page": page,
            "alerts": page.object_list,
            "status": status,
            "statuses": [
                ("active", _("Open (not acknowledged)")),
                ("escalated", AlertStatus.ESCALATED.label),
                ("acknowledged", AlertStatus.ACKNOWLEDGED.label),
                ("closed", AlertStatus.CLOSED.label),
            ],
            "mine": mine,
            "wide": wide,
            "since": since,
            "until": until,
            "department_id": department_id,
            "departments": departments,
            "timeliness": rows,
            "timeliness_total": total,
            "may_configure": selectors.may_configure(request.user),
        },
    )


def _alert_or_404(request: HttpRequest, pk: int) -> Any:
    try:
        alert = selectors.alert_get(request.user, pk)
    except AlertNotFound:
        raise Http404 from None
    names = selectors.display_names([alert.responsible_id, alert.acknowledged_by_id, alert.closed_by_id])

    def name(user: Any) -> str:
        return names.get(user.pk) or user.get_username() if user is not None else ""

    alert.responsible_name = name(alert.responsible)
    alert.acknowledged_by_name = name(alert.acknowledged_by)
    alert.closed_by_name = name(alert.closed_by)
    return alert


@login_required
@require_GET
def critical_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    return render(
        request,
        "quality/critical_detail.html",
        {
            "alert": alert,
            "may_act": selectors.may_act(request.user, alert),
            "recipients": selectors.recipients_of(alert),
            "overdue": alert.is_active and alert.ack_due_at <= timezone.now(),
            "max_action": services.MAX_ACTION,
        },
    )


@login_required
@require_POST
def critical_ack(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    try:
        services.alert_ack(actor=request.user, alert=alert)
    except QualityError as exc:
        if exc.status == 404:
            raise Http404 from None
        if exc.status == 403:
            raise PermissionDenied from None
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Acknowledged. Record the action taken and close the critical value."))
    return redirect("quality:critical_detail", pk=alert.pk)


@login_required
@require_POST
def critical_close(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    text = request.POST.get("action_taken", "")
    try:
        services.alert_close(actor=request.user, alert=alert, action_taken=text)
    except QualityError as exc:
        if exc.status == 404:
            raise Http404 from None
        if exc.status == 403:
            raise PermissionDenied from None
        message = str(exc.message) % exc.params if exc.params else str(exc.message)
        messages.error(request, message)
        return render(
            request,
            "quality/critical_detail.html",
            {
                "alert": _alert_or_404(request, pk),
                "may_act": True,
                "recipients": selectors.recipients_of(alert),
                "action_error": message if exc.field == "action_taken" else "",
                "action_value": text,
                "max_action": services.MAX_ACTION,
            },
            status=422 if exc.status == 422 else 409,
        )
    messages.success(request, _("The critical value is closed."))
    return redirect("quality:critical_detail", pk=alert.pk)


@login_required
def limit_list(request: HttpRequest) -> HttpResponse:
    if not selectors.may_configure(request.user):
        raise PermissionDenied
    errors: dict[str, str] = {}
    form = {"department": "", "test_code": "", "ack_minutes": "10", "escalate_minutes": "10"}
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in form}
        department = None
        if form["department"]:
            department = Department.objects.filter(
                pk=form["department"] if form["department"].isdigit() else 0
            ).first()
            if department is None:
                errors["department"] = _("Choose a department from the list.")
        numbers: dict[str, int] = {}
        for key in ("ack_minutes", "escalate_minutes"):
            try:
                numbers[key] = int(form[key])
            except ValueError:
                errors[key] = _("Give a number of minutes from 1 to 1440.")
        if not errors:
            try:
                services.limit_save(
                    actor=request.user,
                    department=department,
                    test_code=form["test_code"],
                    ack_minutes=numbers["ack_minutes"],
                    escalate_minutes=numbers["escalate_minutes"],
                )
            except QualityError as exc:
                errors[exc.field or "test_code"] = str(exc.message)
            else:
                messages.success(request, _("The time limit is saved."))
                return redirect("quality:limit_list")
    from . import conf

    return render(
        request,
        "quality/limit_list.html",
        {
            "limits": CriticalValueLimit.objects.select_related("department").order_by(
                "department__path", "test_code"
            ),
            "departments": Department.objects.filter(status="active").order_by("path"),
            "form": form,
            "errors": errors,
            "default_ack": round(conf.ack_seconds() / 60, 1),
            "default_escalate": round(conf.escalate_seconds() / 60, 1),
        },
        status=422 if errors else 200,
    )


@login_required
@require_POST
def limit_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if not selectors.may_configure(request.user):
        raise PermissionDenied
    limit = CriticalValueLimit.objects.filter(pk=pk).first()
    if limit is None:
        raise Http404
    services.limit_delete(actor=request.user, limit=limit)
    messages.success(request, _("The time limit is deleted."))
    return redirect("quality:limit_list")
