"""Operating-room and equipment pages: the day calendar (rooms as columns, half hours as rows),
the booking form with live conflict feedback (``or/check``: JSON, read-only), the OR head nurse's
approval list, a case's page with big status buttons (phones), the coordination page an overrun
links to (delay by N minutes / move to room X, conflicts re-checked), and the equipment calendar
with utilisation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.policy import has_perm
from medoa.core.org.models import Staff

from . import equipment as eq
from . import operating as orq
from .models_or import EquipmentStatus, MedicalEquipment, OperatingRoom, ORBooking, ORBookingStatus

SLOT_MINUTES = 30
DAY_FROM, DAY_TO = 7, 21  # the calendar's rows: 07:00–21:00 (cases outside stretch it)
STATUS_BUTTONS = (
    (ORBookingStatus.IN_ROOM, pgettext_lazy("OR booking", "In room")),
    (ORBookingStatus.INCISION, pgettext_lazy("OR booking", "Incision")),
    (ORBookingStatus.ENDED, pgettext_lazy("OR booking", "Ended")),
)


def _day(request: HttpRequest) -> dt.date:
    try:
        return dt.date.fromisoformat(request.GET.get("date") or "")
    except ValueError:
        return timezone.localdate()


def _grid(
    columns: list[Any], items: dict[int, list[tuple[dt.datetime, dt.datetime, Any]]], day: dt.date
) -> list[Any]:
    """Rows of half hours; in each, per column, ``None`` (covered by a block above), ``{}`` (empty)
    or ``{"item", "span"}`` (a block starting here, ``rowspan`` slots long)."""
    start, _end = eq.day_bounds(day)
    first, last = DAY_FROM * 60, DAY_TO * 60
    for blocks in items.values():
        for a, b, _x in blocks:
            first = min(first, max(int((a - start).total_seconds() // 60) // SLOT_MINUTES * SLOT_MINUTES, 0))
            last = max(last, min(int((b - start).total_seconds() // 60), 24 * 60))
    slots = list(range(first, last, SLOT_MINUTES))
    rows: list[dict[str, Any]] = [{"time": f"{m // 60:02d}:{m % 60:02d}", "cells": []} for m in slots]
    for col in columns:
        covered: set[int] = set()
        starts: dict[int, dict[str, Any]] = {}
        for a, b, item in items.get(col.pk, []):
            m0 = max(int((a - start).total_seconds() // 60), slots[0])
            m1 = min(int((b - start).total_seconds() // 60), slots[-1] + SLOT_MINUTES)
            i0 = (m0 - slots[0]) // SLOT_MINUTES
            i1 = max((m1 - slots[0] + SLOT_MINUTES - 1) // SLOT_MINUTES, i0 + 1)
            if i0 in covered or i0 in starts:  # overlapping blocks (should not happen): list them
                target = starts.get(i0)
                if target is not None:
                    target["more"].append(item)
                continue
            starts[i0] = {"item": item, "span": i1 - i0, "more": []}
            covered.update(range(i0 + 1, i1))
        for i, row in enumerate(rows):
            row["cells"].append(None if i in covered else starts.get(i, {}))
    return rows


@login_required
@require_GET
def or_day(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, orq.PERM_OR_VIEW):
        raise PermissionDenied
    day = _day(request)
    rooms = list(orq.room_list(user=request.user))
    bookings = [
        b
        for b in orq.day_bookings(rooms=rooms, day=day)
        if b.status not in (ORBookingStatus.REJECTED, ORBookingStatus.CANCELLED)
    ]
    items: dict[int, list[Any]] = {}
    for b in bookings:
        items.setdefault(b.room_id, []).append((b.planned_start, b.planned_end, b))
    return render(
        request,
        "resources/or_day.html",
        {
            "day": day,
            "prev": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1),
            "rooms": rooms,
            "rows": _grid(rooms, items, day),
            "can_book": has_perm(request.user, orq.PERM_OR_BOOK),
            "can_approve": has_perm(request.user, orq.PERM_OR_APPROVE),
        },
    )


def _staff_choices() -> tuple[list[Staff], list[Staff]]:
    doctors = list(
        Staff.objects.filter(status="active", role_assignments__role__code="doctor")
        .select_related("department")
        .distinct()
        .order_by("department__code", "name")
    )
    anaes = [s for s in doctors if s.department.code.startswith("ANES")] or doctors
    return doctors, anaes


def _form_data(request: HttpRequest) -> dict[str, Any]:
    data = request.POST if request.method == "POST" else request.GET
    return {
        "room": data.get("room", ""),
        "date": data.get("date", "") or timezone.localdate().isoformat(),
        "time": data.get("time", "") or "08:00",
        "duration": data.get("duration", "") or "60",
        "patient_mrn": data.get("patient_mrn", ""),
        "patient_initials": data.get("patient_initials", ""),
        "visit_number": data.get("visit_number", ""),
        "procedure": data.get("procedure", ""),
        "surgeon": data.get("surgeon", ""),
        "anaesthetist": data.get("anaesthetist", ""),
        "equipment": data.getlist("equipment"),
        "note": data.get("note", ""),
    }


def _start_of(form: dict[str, Any]) -> dt.datetime | None:
    try:
        naive = dt.datetime.combine(dt.date.fromisoformat(form["date"]), dt.time.fromisoformat(form["time"]))
    except ValueError:
        return None
    return timezone.make_aware(naive)


def _int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@require_http_methods(["GET", "POST"])
def or_book(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, orq.PERM_OR_BOOK):
        raise PermissionDenied
    form = _form_data(request)
    error: eq.ResourceError | None = None
    if request.method == "POST":
        start = _start_of(form)
        try:
            if start is None:
                raise eq.ResourceError(_("Give a date and a time."), field="planned_start")
            b = orq.booking_request(
                actor=request.user,
                room=form["room"],
                patient_mrn=form["patient_mrn"],
                patient_initials=form["patient_initials"],
                visit_number=form["visit_number"],
                procedure=form["procedure"],
                surgeon=_int(form["surgeon"]) or 0,
                anaesthetist=_int(form["anaesthetist"]),
                planned_start=start,
                duration_minutes=_int(form["duration"]) or 0,
                equipment=form["equipment"],
                note=form["note"],
            )
        except eq.ResourceError as exc:
            error = exc
        else:
            messages.success(request, _("Booking requested: %(booking)s") % {"booking": eq.booking_label(b)})
            return redirect(f"{reverse('resources:or_day')}?date={form['date']}")
    doctors, anaes = _staff_choices()
    return render(
        request,
        "resources/or_book.html",
        {
            "form": form,
            "error": error,
            "rooms": orq.room_list(user=request.user),
            "doctors": doctors,
            "anaesthetists": anaes,
            "devices": MedicalEquipment.objects.filter(is_active=True).order_by("kind", "code"),
            "check_url": reverse("resources:or_check"),
        },
        status=409 if error is not None and error.status == 409 else 200,
    )


@login_required
@require_GET
def or_check(request: HttpRequest) -> JsonResponse:
    """The booking form's live feedback: the conflicts of what is typed so far (no lock, no write;
    the request itself checks again under locks)."""
    if not has_perm(request.user, orq.PERM_OR_BOOK):
        raise PermissionDenied
    form = _form_data(request)
    room = OperatingRoom.objects.filter(code=form["room"]).first()
    start = _start_of(form)
    minutes = _int(form["duration"])
    if room is None or start is None or not minutes or minutes <= 0:
        return JsonResponse({"ok": None, "conflicts": []})
    devices = list(MedicalEquipment.objects.filter(code__in=form["equipment"]))
    found = orq.or_conflicts(
        room=room,
        surgeon_id=_int(form["surgeon"]) or 0,
        anaesthetist_id=_int(form["anaesthetist"]),
        start=start,
        end=start + dt.timedelta(minutes=minutes),
        devices=devices,
    )
    return JsonResponse(
        {
            "ok": not found,
            "conflicts": [
                {"kind": c.kind, "message": c.message, "id": getattr(c.booking, "pk", None)} for c in found
            ],
        }
    )


@login_required
@require_GET
def or_approvals(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, orq.PERM_OR_APPROVE):
        raise PermissionDenied
    return render(request, "resources/or_approvals.html", {"bookings": orq.approvals_for(user=request.user)})


@login_required
@require_POST
def or_decide(request: HttpRequest, pk: int) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    try:
        b = orq.booking_decide(
            actor=request.user, booking=pk, approve=approve, note=request.POST.get("note", "")
        )
    except eq.ResourceError as exc:
        if exc.status == 404:
            raise PermissionDenied from None
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            (_("Approved: %(booking)s") if approve else _("Rejected: %(booking)s"))
            % {"booking": eq.booking_label(b)},
        )
    return redirect("resources:or_approvals")


def _booking_or_403(request: HttpRequest, pk: int) -> ORBooking:
    try:
        return orq.booking_get(user=request.user, pk=pk)
    except eq.ResourceError:
        raise PermissionDenied from None


@login_required
@require_http_methods(["GET", "POST"])
def or_case(request: HttpRequest, pk: int) -> HttpResponse:
    """A case on a phone: big buttons for in room / incision / ended."""
    b = _booking_or_403(request, pk)
    if request.method == "POST":
        try:
            orq.booking_status_set(
                actor=request.user,
                booking=b.pk,
                status=request.POST.get("status", ""),
                reason=request.POST.get("reason", ""),
            )
        except eq.ResourceError as exc:
            messages.error(request, exc.message)
        return redirect("resources:or_case", pk=b.pk)
    nxt = {
        ORBookingStatus.APPROVED: ORBookingStatus.IN_ROOM,
        ORBookingStatus.IN_ROOM: ORBookingStatus.INCISION,
        ORBookingStatus.INCISION: ORBookingStatus.ENDED,
    }.get(b.status)  # type: ignore[call-overload]
    return render(
        request,
        "resources/or_case.html",
        {
            "b": b,
            "buttons": [(value, label, value == nxt) for value, label in STATUS_BUTTONS],
            "may_status": orq._may_set_status(request.user, b, ORBookingStatus.IN_ROOM),
            "equipment": b.equipment_bookings.select_related("equipment").exclude(status="cancelled"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def or_coordinate(request: HttpRequest, pk: int) -> HttpResponse:
    """Where an overrun notification leads: the running case and the next ones, each with "delay
    by N minutes" and "move to room X" (conflicts checked again by the service)."""
    b = _booking_or_403(request, pk)
    if request.method == "POST":
        target = _int(request.POST.get("booking", ""))
        try:
            moved = orq.booking_reschedule(
                actor=request.user,
                booking=target or 0,
                delay_minutes=_int(request.POST.get("delay", "0")) or 0,
                room=request.POST.get("room") or None,
            )
        except eq.ResourceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Rescheduled: %(booking)s") % {"booking": eq.booking_label(moved)})
        return redirect("resources:or_coordinate", pk=b.pk)
    following = orq.next_cases(b, limit=10)
    may = has_perm(request.user, orq.PERM_OR_COORDINATE, department=b.room.department) or has_perm(
        request.user, orq.PERM_OR_APPROVE, department=b.room.department
    )
    return render(
        request,
        "resources/or_coordinate.html",
        {
            "b": b,
            "next_cases": following,
            "rooms": [r for r in orq.room_list(user=request.user) if r.pk != b.room_id],
            "delays": (15, 30, 45, 60, 90),
            "may": may,
            "late_minutes": max(int((timezone.now() - b.planned_end).total_seconds() // 60), 0),
        },
    )


# --- equipment --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def equipment_day(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, eq.PERM_EQ_VIEW):
        raise PermissionDenied
    day = _day(request)
    if request.method == "POST":
        form = request.POST
        device = MedicalEquipment.objects.filter(code=form.get("equipment", "")).first()
        try:
            naive = dt.datetime.combine(
                dt.date.fromisoformat(form.get("date", "")), dt.time.fromisoformat(form.get("time", ""))
            )
        except ValueError:
            messages.error(request, _("Give a date and a time."))
        else:
            start = timezone.make_aware(naive)
            try:
                eq.equipment_book(
                    actor=request.user,
                    equipment=device.pk if device else 0,
                    start=start,
                    end=start + dt.timedelta(minutes=_int(form.get("duration", "")) or 0),
                    purpose=form.get("purpose", ""),
                    patient_mrn=form.get("patient_mrn", ""),
                    patient_initials=form.get("patient_initials", ""),
                )
            except eq.ResourceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Equipment booked."))
        return redirect(f"{reverse('resources:equipment_day')}?date={form.get('date', '')}")
    devices = list(eq.equipment_list(user=request.user))
    start, end = eq.day_bounds(day)
    items: dict[int, list[Any]] = {}
    for b in eq.equipment_bookings(devices=devices, start=start, end=end):
        items.setdefault(b.equipment_id, []).append((b.start, b.end, b))
    manage = has_perm(request.user, eq.PERM_EQ_MANAGE)
    week = (
        eq.equipment_utilisation(user=request.user, first=day - dt.timedelta(days=6), days=7)
        if manage
        else []
    )
    today = (
        {u.equipment.pk: u for u in eq.equipment_utilisation(user=request.user, first=day)} if manage else {}
    )
    return render(
        request,
        "resources/equipment_day.html",
        {
            "day": day,
            "prev": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1),
            "devices": devices,
            "rows": _grid(devices, items, day),
            "can_book": has_perm(request.user, eq.PERM_EQ_BOOK),
            "utilisation": [(u, today.get(u.equipment.pk)) for u in week],
            "status_choices": EquipmentStatus.choices,
        },
    )


@login_required
@require_POST
def equipment_status(request: HttpRequest, code: str) -> HttpResponse:
    try:
        device = eq.equipment_get(user=request.user, code_or_pk=code)
        eq.equipment_status_set(
            actor=request.user,
            equipment=device,
            status=request.POST.get("status", ""),
            note=request.POST.get("note", ""),
        )
    except eq.ResourceError as exc:
        if exc.status == 404:
            raise PermissionDenied from None
        messages.error(request, exc.message)
    return redirect("resources:equipment_day")
