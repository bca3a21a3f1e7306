"""The roster pages: the wards a person may see, the head nurse's grid (generate with a progress
indicator, hand edits with live rule checking, locks, re-planning, publish), "my shifts" for the
phone, the iCal feed, personal requests and swap requests.

The grid talks JSON with its script (``static/roster/grid.js``): a cell change answers with the
rule check of the whole roster (every cell's reasons), so marks elsewhere (a stretch of seven
days, a night block) update with it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.errors import error_pages
from medoa.core.org.models import Department, Staff

from . import selectors, services
from .choices import RequestPriority, RosterStatus, ShiftKind, SwapStatus, UnavailabilityKind
from .convert import month_days
from .errors import (
    RosterConflict,
    RosterError,
    RosterInputError,
    RosterNotFound,
    RosterPermissionDenied,
    RosterRuleViolation,
)
from .ical import calendar_for
from .models import Roster, ShiftType, StaffProfile

pages = error_pages(not_found=RosterNotFound, denied=RosterPermissionDenied)
JSON_LIMIT = 10_000


def _month(value: str | None, default: dt.date | None = None) -> dt.date:
    if value:
        try:
            return dt.datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise Http404 from None
    return (default or timezone.localdate()).replace(day=1)


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _prev_month(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


def _json(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > JSON_LIMIT:
        raise RosterInputError(_("The request is too large."))
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise RosterInputError(_("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise RosterInputError(_("The request body is not valid JSON."))
    return body


def _date(value: Any, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RosterInputError(_("Give a date as YYYY-MM-DD."), field=field) from None


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RosterInputError(_("Give a number."), field=field) from None


def _error_json(exc: RosterError) -> JsonResponse:
    status = 422
    if isinstance(exc, RosterPermissionDenied):
        status = 403
    elif isinstance(exc, RosterNotFound):
        status = 404
    elif isinstance(exc, RosterConflict):
        status = 409
    body: dict[str, Any] = {"ok": False, "error": str(exc.message), "field": exc.field}
    if isinstance(exc, RosterRuleViolation):
        body["violations"] = exc.violations
    return JsonResponse(body, status=status)


# --- wards ----------------------------------------------------------------------------------------


@login_required
@require_GET
def ward_list(request: HttpRequest) -> HttpResponse:
    wards = list(selectors.wards_for_user(request.user))
    if not wards:
        raise PermissionDenied
    month = _month(request.GET.get("month"), _next_month(timezone.localdate().replace(day=1)))
    rosters = {r.ward_id: r for r in Roster.objects.filter(ward__in=wards, month=month)}
    rows = [{"ward": w, "roster": rosters.get(w.pk)} for w in wards]
    context = {
        "rows": rows,
        "month": month,
        "month_key": f"{month:%Y-%m}",
        "prev_key": f"{_prev_month(month):%Y-%m}",
        "next_key": f"{_next_month(month):%Y-%m}",
    }
    return render(request, "roster/ward_list.html", context)


# --- the grid -------------------------------------------------------------------------------------


@login_required
@require_GET
@pages
def roster_grid(request: HttpRequest, ward_id: int, month: str) -> HttpResponse:
    ward = Department.objects.filter(pk=ward_id).first()
    if ward is None:
        raise Http404
    first = _month(month)
    selectors.require_view(request.user, ward)
    manage = selectors.may_manage(request.user, ward)
    roster = Roster.objects.filter(ward=ward, month=first).first()
    if roster is None and manage:
        roster = services.roster_open(actor=request.user, ward=ward, month=first)
    context: dict[str, Any] = {
        "ward": ward,
        "month": first,
        "month_key": f"{first:%Y-%m}",
        "prev_key": f"{_prev_month(first):%Y-%m}",
        "next_key": f"{_next_month(first):%Y-%m}",
        "manage": manage,
        "roster": roster,
        "time_limit": int(services.time_limit_default()),
    }
    if roster is not None:
        grid = selectors.roster_grid(user=request.user, roster=roster)
        context.update(
            grid=grid,
            has_cells=roster.cells.exists(),
            breakdown=sorted(grid.breakdown.items()),
            staff_choices=[(r.staff.pk, r.staff.name) for r in grid.rows],
            pending_swaps=roster.swaps.filter(status=SwapStatus.PENDING).count() if manage else 0,
        )
    return render(request, "roster/roster_grid.html", context)


def _marks(grid: selectors.Grid) -> dict[str, Any]:
    cells: dict[str, list[str]] = {}
    for row in grid.rows:
        for c in row.cells:
            if c["reasons"]:
                cells[f"{row.staff.pk}|{c['iso']}"] = c["reasons"]
    return {
        "cells": cells,
        "days": grid.day_issues,
        "staff": {str(r.staff.pk): r.issues for r in grid.rows if r.issues},
        "violations": [
            {
                "staff": v.staff_id,
                "name": next((r.staff.name for r in grid.rows if r.staff.pk == v.staff_id), ""),
                "dates": [d.isoformat() for d in v.dates],
                "reason": v.reason,
            }
            for v in grid.violations
        ],
        "hard_count": grid.hard_count,
        "objective": grid.objective,
        "status": grid.roster.status,
        "status_label": str(RosterStatus(grid.roster.status).label),
    }


@login_required
@require_POST
def cell_update(request: HttpRequest, roster_id: int) -> JsonResponse:
    """``{"staff": id, "date": "YYYY-MM-DD", "code": "N" | "" }`` → the cell and every mark."""
    try:
        roster = selectors.roster_get(user=request.user, roster_id=roster_id, manage=True)
        body = _json(request)
        staff_id = _int(body.get("staff"), "staff")
        day = _date(body.get("date"), "date")
        if "locked" in body:
            services.cell_lock(
                actor=request.user, roster=roster, staff_id=staff_id, day=day, locked=bool(body["locked"])
            )
        else:
            code = str(body.get("code") or "")
            services.cell_set(
                actor=request.user, roster=roster, staff_id=staff_id, day=day, code=code or None
            )
        roster.refresh_from_db()
        grid = selectors.roster_grid(user=request.user, roster=roster)
    except RosterError as exc:
        return _error_json(exc)
    return JsonResponse({"ok": True, **_marks(grid)})


@login_required
@require_POST
def roster_generate(request: HttpRequest, roster_id: int) -> HttpResponse:
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        roster = selectors.roster_get(user=request.user, roster_id=roster_id, manage=True)
        raw = request.POST.get("time_limit") or None
        limit = float(raw) if raw else None
        roster = services.roster_generate(actor=request.user, roster=roster, time_limit=limit)
    except ValueError:
        exc: RosterError = RosterInputError(_("Give a number."), field="time_limit")
        if wants_json:
            return _error_json(exc)
        messages.error(request, str(exc))
        return redirect(request.META.get("HTTP_REFERER") or reverse("roster:ward_list"))
    except RosterError as exc:
        if wants_json:
            return _error_json(exc)
        messages.error(request, str(exc))
        return redirect(request.META.get("HTTP_REFERER") or reverse("roster:ward_list"))
    url = reverse("roster:roster_grid", args=[roster.ward_id, f"{roster.month:%Y-%m}"])
    if wants_json:
        return JsonResponse(
            {"ok": True, "url": url, "status": roster.solver_status, "objective": roster.score}
        )
    messages.success(request, _("The roster was generated."))
    return redirect(url)


@login_required
@require_GET
def roster_progress(request: HttpRequest, roster_id: int) -> JsonResponse:
    try:
        roster = selectors.roster_get(user=request.user, roster_id=roster_id, manage=True)
    except RosterError as exc:
        return _error_json(exc)
    return JsonResponse({"generating": roster.generating, **(roster.progress or {})})


@login_required
@require_POST
@pages
def roster_publish(request: HttpRequest, roster_id: int) -> HttpResponse:
    roster = selectors.roster_get(user=request.user, roster_id=roster_id, manage=True)
    url = reverse("roster:roster_grid", args=[roster.ward_id, f"{roster.month:%Y-%m}"])
    try:
        services.roster_publish(
            actor=request.user, roster=roster, allow_violations=request.POST.get("allow_violations") == "1"
        )
    except RosterRuleViolation as exc:
        messages.error(
            request,
            _("%(count)s hard rule violations remain: fix them, or publish with the exception confirmed.")
            % {"count": len(exc.violations)},
        )
        return redirect(url)
    except RosterError as exc:
        messages.error(request, str(exc))
        return redirect(url)
    messages.success(request, _("The roster is published; everyone on it was notified."))
    return redirect(url)


@login_required
@require_POST
@pages
def roster_replan(request: HttpRequest, roster_id: int) -> HttpResponse:
    roster = selectors.roster_get(user=request.user, roster_id=roster_id, manage=True)
    url = reverse("roster:roster_grid", args=[roster.ward_id, f"{roster.month:%Y-%m}"])
    try:
        staff = Staff.objects.filter(pk=_int(request.POST.get("staff"), "staff")).first()
        if staff is None:
            raise RosterInputError(_("Choose a person."), field="staff")
        days = [_date(x.strip(), "dates") for x in (request.POST.get("dates") or "").split(",") if x.strip()]
        _roster, changed = services.roster_replan(
            actor=request.user, roster=roster, staff=staff, days=days, note=request.POST.get("note", "")
        )
    except RosterError as exc:
        messages.error(request, str(exc))
        return redirect(url)
    messages.success(request, _("Re-planned: %(count)s people's shifts changed.") % {"count": len(changed)})
    return redirect(url)


# --- my shifts, requests, iCal --------------------------------------------------------------------


@login_required
@require_GET
def my_shifts(request: HttpRequest) -> HttpResponse:
    staff = selectors.staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    month = _month(request.GET.get("month"))
    cells = selectors.month_of_cells(staff, month)
    away = selectors.unavailable_days(staff, month)
    today = timezone.localdate()
    days: list[dict[str, Any]] = []
    nights = 0
    for d in month_days(month):
        c = cells.get(d)
        st = c.shift_type if c else None
        nights += bool(st and st.kind == ShiftKind.NIGHT)
        days.append(
            {
                "date": d,
                "today": d == today,
                "weekend": d.weekday() >= 5,
                "shift": st if st and st.kind != ShiftKind.OFF else None,
                "away": UnavailabilityKind(away[d]).label if d in away else "",
            }
        )
    profile = services.profile_for(staff)
    shift_types = ShiftType.objects.filter(ward=profile.ward, active=True).exclude(kind=ShiftKind.OFF)
    context = {
        "days": days,
        "month": month,
        "prev_key": f"{_prev_month(month):%Y-%m}",
        "next_key": f"{_next_month(month):%Y-%m}",
        "ical_url": request.build_absolute_uri(reverse("roster:ical", args=[profile.ical_token])),
        "worked": sum(1 for d in days if d["shift"]),
        "nights": nights,
        "shift_types": shift_types,
        "priorities": RequestPriority.choices,
        "rostered": profile.rostered,
    }
    return render(request, "roster/my_shifts.html", context)


@login_required
@require_POST
def my_request(request: HttpRequest) -> HttpResponse:
    try:
        kind = request.POST.get("kind", "off")
        code = request.POST.get("code") or None
        services.request_set(
            actor=request.user,
            day=_date(request.POST.get("date"), "date"),
            code=None if kind == "off" else code,
            on=kind == "on",
            priority=_int(request.POST.get("priority") or 2, "priority"),
            note=request.POST.get("note", ""),
        )
    except RosterError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Your request is saved; the next roster takes it into account."))
    return redirect(reverse("roster:my_shifts"))


@require_GET
def ical(request: HttpRequest, token: str) -> HttpResponse:
    """The person's published shifts as an iCalendar feed; the token in the address is the key."""
    found = selectors.ical_cells(token=token)
    if found is None:
        raise Http404
    profile, cells = found
    response = HttpResponse(calendar_for(profile.staff, cells), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = 'inline; filename="shifts.ics"'
    return response


# --- swaps ----------------------------------------------------------------------------------------


@login_required
@require_GET
def swap_list(request: HttpRequest) -> HttpResponse:
    swaps = list(selectors.swap_list_for_user(user=request.user)[:100])
    me = selectors.staff_of(request.user)
    return render(request, "roster/swap_list.html", {"swaps": swaps, "me": me})


@login_required
@require_http_methods(["GET", "POST"])
def swap_new(request: HttpRequest) -> HttpResponse:
    me = selectors.staff_of(request.user)
    profile = (
        StaffProfile.objects.filter(staff=me, rostered=True).select_related("ward").first() if me else None
    )
    if me is None or profile is None:
        raise PermissionDenied
    rosters = list(
        Roster.objects.filter(
            ward=profile.ward, status=RosterStatus.PUBLISHED, month__gte=timezone.localdate().replace(day=1)
        )
    )
    colleagues = list(
        Staff.objects.filter(roster_profile__ward=profile.ward, roster_profile__rostered=True).exclude(
            pk=me.pk
        )
    )
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            my_date = _date(request.POST.get("my_date"), "my_date")
            partner_date = _date(
                request.POST.get("partner_date") or request.POST.get("my_date"), "partner_date"
            )
            roster = next((r for r in rosters if r.month == my_date.replace(day=1)), None)
            if roster is None:
                raise RosterInputError(_("No published roster holds this date."), field="my_date")
            partner = next((c for c in colleagues if str(c.pk) == request.POST.get("partner")), None)
            if partner is None:
                raise RosterInputError(_("Choose a colleague."), field="partner")
            swap = services.swap_request(
                actor=request.user,
                roster=roster,
                partner=partner,
                my_date=my_date,
                partner_date=partner_date,
                reason=request.POST.get("reason", ""),
            )
        except RosterError as exc:
            errors[exc.field or "__all__"] = str(exc.message)
        else:
            messages.success(request, _("Your swap request was sent to the head nurse."))
            return redirect(reverse("roster:swap_detail", args=[swap.pk]))
    return render(
        request,
        "roster/swap_new.html",
        {"colleagues": colleagues, "errors": errors, "values": request.POST, "rosters": rosters},
    )


@login_required
@require_GET
@pages
def swap_detail(request: HttpRequest, swap_id: int) -> HttpResponse:
    swap = selectors.swap_get(user=request.user, swap_id=swap_id)
    me = selectors.staff_of(request.user)
    context = {
        "swap": swap,
        "may_decide": swap.status == SwapStatus.PENDING
        and selectors.may_manage(request.user, swap.roster.ward),
        "may_cancel": swap.status == SwapStatus.PENDING and me is not None and me.pk == swap.requester_id,
    }
    return render(request, "roster/swap_detail.html", context)


@login_required
@require_POST
@pages
def swap_decide(request: HttpRequest, swap_id: int) -> HttpResponse:
    swap = selectors.swap_get(user=request.user, swap_id=swap_id)
    url = reverse("roster:swap_detail", args=[swap.pk])
    action = request.POST.get("action")
    try:
        if action == "cancel":
            services.swap_cancel(actor=request.user, swap=swap)
        elif action in ("approve", "reject"):
            services.swap_decide(
                actor=request.user, swap=swap, approve=action == "approve", note=request.POST.get("note", "")
            )
        else:
            raise RosterInputError(_("Unknown action."), field="action")
    except RosterRuleViolation as exc:
        reasons = "; ".join(dict.fromkeys(v["reason"] for v in exc.violations))
        messages.error(request, f"{exc.message} {reasons}")
    except RosterError as exc:
        messages.error(request, str(exc))
    return redirect(url)


# --- the ward's settings --------------------------------------------------------------------------


def _flag(request: HttpRequest, name: str) -> bool:
    return request.POST.get(name) == "1"


def _optional_date(request: HttpRequest, name: str) -> dt.date | None:
    raw = (request.POST.get(name) or "").strip()
    return _date(raw, name) if raw else None


@login_required
@require_http_methods(["GET", "POST"])
@pages
def ward_settings(request: HttpRequest, ward_id: int) -> HttpResponse:
    """Rules (hard/soft, weight, value), weekday demand with skill mix, contracts and flags, and
    training days of one ward."""
    ward = Department.objects.filter(pk=ward_id).first()
    if ward is None:
        raise Http404
    selectors.require_manage(request.user, ward)
    services.ward_setup(ward=ward)
    if request.method == "POST":
        section = request.POST.get("section")
        try:
            if section == "rules":
                rows = [
                    {
                        "code": code,
                        "enabled": _flag(request, f"rule-{code}-enabled"),
                        "hard": _flag(request, f"rule-{code}-hard"),
                        "weight": _int(request.POST.get(f"rule-{code}-weight"), f"rule-{code}-weight"),
                        "value": _int(request.POST.get(f"rule-{code}-value"), f"rule-{code}-value"),
                    }
                    for code in selectors.rule_codes()
                ]
                services.rules_save(actor=request.user, ward=ward, rows=rows)
            elif section == "demand":
                rows = []
                for st in selectors.work_shift_types(ward):
                    for weekday in range(7):
                        prefix = f"demand-{st.code}-{weekday}"
                        rows.append(
                            {
                                "code": st.code,
                                "weekday": weekday,
                                "minimum": _int(request.POST.get(f"{prefix}-min"), f"{prefix}-min"),
                                "preferred": _int(request.POST.get(f"{prefix}-pref"), f"{prefix}-pref"),
                                "skill_level": request.POST.get(f"demand-{st.code}-skill") or "",
                                "skill_minimum": _int(
                                    request.POST.get(f"demand-{st.code}-skillmin") or 0,
                                    f"demand-{st.code}-skillmin",
                                ),
                            }
                        )
                services.demand_save(actor=request.user, ward=ward, rows=rows)
            elif section == "profiles":
                rows = [
                    {
                        "staff": p.staff_id,
                        "weekly_hours": _int(
                            request.POST.get(f"p-{p.staff_id}-hours"), f"p-{p.staff_id}-hours"
                        ),
                        "max_nights_per_month": _int(
                            request.POST.get(f"p-{p.staff_id}-nights"), f"p-{p.staff_id}-nights"
                        ),
                        "pregnant_from": _optional_date(request, f"p-{p.staff_id}-pregnant"),
                        "pregnant_until": _optional_date(request, f"p-{p.staff_id}-pregnant-until"),
                        "nursing_until": _optional_date(request, f"p-{p.staff_id}-nursing"),
                    }
                    for p in selectors.ward_profiles(ward)
                ]
                services.profiles_save(actor=request.user, ward=ward, rows=rows)
            elif section == "add":
                staff = Staff.objects.filter(pk=_int(request.POST.get("staff"), "staff")).first()
                if staff is None:
                    raise RosterInputError(_("Choose a person."), field="staff")
                services.profile_add(actor=request.user, ward=ward, staff=staff)
            elif section == "training":
                staff = Staff.objects.filter(
                    pk=_int(request.POST.get("staff"), "staff"), roster_profile__ward=ward
                ).first()
                if staff is None:
                    raise RosterInputError(_("Choose a person."), field="staff")
                days = [
                    _date(x.strip(), "dates")
                    for x in (request.POST.get("dates") or "").split(",")
                    if x.strip()
                ]
                services.unavailability_add(
                    actor=request.user,
                    staff=staff,
                    days=days,
                    kind=UnavailabilityKind.TRAINING,
                    note=request.POST.get("note", ""),
                )
            else:
                raise RosterInputError(_("Unknown action."), field="section")
        except RosterError as exc:
            messages.error(request, f"{exc.message}" + (f" ({exc.field})" if exc.field else ""))
        else:
            messages.success(request, _("Saved."))
            return redirect(reverse("roster:ward_settings", args=[ward.pk]))
    return render(request, "roster/ward_settings.html", selectors.ward_settings_context(ward))
