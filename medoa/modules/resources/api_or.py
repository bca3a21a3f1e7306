"""The bookings API of operating rooms and expensive equipment, mounted under /api/v1/resources
(``router.add_router("", or_router)`` in ``api.py``).

``GET /bookings?resource=&date=`` — the day's bookings (``date`` YYYY-MM-DD, default today) of
one resource (an OR room code such as ``OR-01`` or a device code such as ``CT-01``) or of every
room and device the caller may see; each with ``kind`` ``or`` or ``equipment``. The patient's
MRN and visit number only for the OR staff of the room, the case's team and the booker.
``POST /bookings`` — book: ``resource`` a room → an OR case request (``procedure``,
``patient_mrn``, ``surgeon``, ``anaesthetist``, ``start``, ``duration_minutes``, ``equipment``);
a device → an equipment booking (``start`` and ``end`` or ``duration_minutes``). 201 with the
booking; 409 ``{"detail", "conflict": {"kind", "booking_kind", "id", "resource", "start",
"end"}}`` naming the booking in the way; 422 with ``errors[].field``.
``POST /bookings/{id}/approve|reject|status|reschedule`` — OR cases; ``POST
/equipment-bookings/{id}/cancel|start|finish``; ``POST /equipment/{code}/status``;
``GET /equipment/utilisation?date=&days=``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from medoa.core.access.policy import has_perm
from medoa.core.apierrors import in_both
from medoa.core.org.models import Staff

from . import equipment as eq
from . import operating as orq
from .models_or import EquipmentBooking, MedicalEquipment, OperatingRoom, ORBooking

or_router = Router(tags=["resources"])
T = TypeVar("T")


def _error(exc: eq.ResourceError) -> HttpError:
    status = 422 if exc.status == 400 else exc.status
    error = HttpError(status, exc.message)
    extra: dict[str, Any] = {}
    if exc.field and status != 404:
        zh, en = in_both(exc.msgid, exc.params)
        extra["errors"] = [{"field": exc.field, "message": zh, "message_en": en, "type": "invalid"}]
    if exc.conflict is not None or exc.kind:
        extra["conflict"] = _conflict_out(exc)
    if extra:
        error.extra = extra  # type: ignore[attr-defined]
    return error


def _conflict_out(exc: eq.ResourceError) -> dict[str, Any]:
    c = exc.conflict
    out: dict[str, Any] = {"kind": exc.kind, "label": eq.booking_label(c)}
    if isinstance(c, EquipmentBooking):
        out.update(
            booking_kind="equipment",
            id=c.pk,
            resource=c.equipment.code,
            start=_iso(c.start),
            end=_iso(c.end),
            or_booking=c.or_booking_id,
        )
    elif isinstance(c, ORBooking):
        out.update(
            booking_kind="or",
            id=c.pk,
            resource=c.room.code,
            start=_iso(c.planned_start),
            end=_iso(c.planned_end),
            status=c.status,
        )
    return out


def _iso(value: dt.datetime | None) -> str | None:
    """Times as the hospital reads them (local time with its offset)."""
    return timezone.localtime(value).isoformat() if value else None


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except eq.ResourceError as exc:
        raise _error(exc) from None


def _person(staff: Staff | None) -> dict[str, Any] | None:
    if staff is None:
        return None
    return {"id": staff.pk, "name": staff.name, "username": staff.user.username if staff.user_id else ""}


def _patient_visible(user: Any, b: ORBooking) -> bool:
    staff_id = getattr(getattr(user, "staff", None), "pk", None)
    return (
        b.requested_by_id == user.pk
        or staff_id in (b.surgeon_id, b.anaesthetist_id)
        or has_perm(user, orq.PERM_OR_STATUS, department=b.room.department)
        or has_perm(user, orq.PERM_OR_APPROVE, department=b.room.department)
    )


def or_booking_out(b: ORBooking, *, user: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "or",
        "id": b.pk,
        "resource": b.room.code,
        "resource_name": b.room.name,
        "status": b.status,
        "procedure": b.procedure,
        "patient_initials": b.patient_initials,
        "surgeon": _person(b.surgeon),
        "anaesthetist": _person(b.anaesthetist),
        "start": _iso(b.planned_start),
        "end": _iso(b.planned_end),
        "duration_minutes": b.duration_minutes,
        "equipment": [e.equipment.code for e in b.equipment_bookings.all() if e.status != "cancelled"],
        "in_room_at": _iso(b.in_room_at),
        "incision_at": _iso(b.incision_at),
        "ended_at": _iso(b.ended_at),
        "overrun_at": _iso(b.overrun_at),
    }
    if _patient_visible(user, b):
        out.update(patient_mrn=b.patient_mrn, visit_number=b.visit_number)
    return out


def equipment_booking_out(b: EquipmentBooking, *, user: Any) -> dict[str, Any]:
    mine = b.booked_by_id == user.pk or has_perm(user, eq.PERM_EQ_MANAGE, department=b.equipment.department)
    out: dict[str, Any] = {
        "kind": "equipment",
        "id": b.pk,
        "resource": b.equipment.code,
        "resource_name": b.equipment.name,
        "status": b.status,
        "purpose": b.purpose,
        "patient_initials": b.patient_initials,
        "start": _iso(b.start),
        "end": _iso(b.end),
        "or_booking": b.or_booking_id,
        "used_from": _iso(b.used_from),
        "used_to": _iso(b.used_to),
    }
    if mine:
        out["patient_mrn"] = b.patient_mrn
    return out


def _day(value: str) -> dt.date:
    if not value:
        return timezone.localdate()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _error(eq.ResourceError(_("Give the date as YYYY-MM-DD."), field="date")) from None


@or_router.get("/bookings", summary="A day's OR and equipment bookings")
def bookings_list(request: HttpRequest, resource: str = "", date: str = "") -> Any:
    user = request.user
    if not (has_perm(user, orq.PERM_OR_VIEW) or has_perm(user, eq.PERM_EQ_VIEW)):
        raise HttpError(403, "Forbidden")
    day = _day(date)
    rooms: list[OperatingRoom] = list(orq.room_list(user=user))
    devices: list[MedicalEquipment] = list(eq.equipment_list(user=user))
    if resource:
        code = resource.split(":", 1)[-1]
        rooms = [r for r in rooms if r.code == code]
        devices = [d for d in devices if d.code == code]
        if not rooms and not devices:
            raise _error(eq.ResourceError(_("There is no such resource."), field="resource"))
    start, end = eq.day_bounds(day)
    items: list[dict[str, Any]] = [
        or_booking_out(b, user=user) for b in orq.day_bookings(rooms=rooms, day=day) if rooms
    ]
    standalone = [
        b for b in eq.equipment_bookings(devices=devices, start=start, end=end) if not b.or_booking_id
    ]
    items += [equipment_booking_out(b, user=user) for b in standalone]
    if resource and devices:  # a device's calendar shows the cases using it too
        items += [
            equipment_booking_out(b, user=user)
            for b in eq.equipment_bookings(devices=devices, start=start, end=end)
            if b.or_booking_id
        ]
    items.sort(key=lambda i: (i["start"], i["kind"], i["id"]))
    return {"date": day.isoformat(), "count": len(items), "bookings": items}


class BookingIn(Schema):
    resource: str
    start: dt.datetime
    duration_minutes: int | None = None
    end: dt.datetime | None = None
    patient_mrn: str = ""
    patient_initials: str = ""
    visit_number: str = ""
    procedure: str = ""
    purpose: str = ""
    surgeon: int | str | None = None
    anaesthetist: int | str | None = None
    equipment: list[str] = []
    note: str = ""


def _staff(value: int | str | None, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int) or str(value).isdigit():
        found = Staff.objects.filter(Q(pk=int(value)) | Q(employee_no=str(value))).values_list(
            "pk", flat=True
        )
    else:
        found = Staff.objects.filter(Q(user__username=value) | Q(employee_no=value)).values_list(
            "pk", flat=True
        )
    pk = found.first()
    if pk is None:
        raise _error(eq.ResourceError(_("There is no such person on the staff."), field=field))
    return pk


@or_router.post("/bookings", response={201: dict}, summary="Book an operating room or a device")
def bookings_create(request: HttpRequest, body: BookingIn) -> Any:
    user = request.user
    code = body.resource.split(":", 1)[-1]
    room = OperatingRoom.objects.filter(code=code).first()
    if room is not None and not body.resource.startswith("equipment:"):
        if body.duration_minutes is None:
            if body.end is None:
                raise _error(eq.ResourceError(_("This field is required."), field="duration_minutes"))
            body.duration_minutes = int((body.end - body.start).total_seconds() // 60)
        b = _call(
            orq.booking_request,
            actor=user,
            room=room,
            patient_mrn=body.patient_mrn,
            patient_initials=body.patient_initials,
            visit_number=body.visit_number,
            procedure=body.procedure,
            surgeon=_staff(body.surgeon, "surgeon") or 0,
            anaesthetist=_staff(body.anaesthetist, "anaesthetist"),
            planned_start=body.start,
            duration_minutes=body.duration_minutes,
            equipment=body.equipment,
            note=body.note,
        )
        b = orq.booking_get(user=user, pk=b.pk)
        return Status(201, or_booking_out(b, user=user))
    device = MedicalEquipment.objects.filter(code=code).first()
    if device is None:
        raise _error(eq.ResourceError(_("There is no such resource."), field="resource"))
    end = body.end or (body.start + dt.timedelta(minutes=body.duration_minutes or 0))
    e = _call(
        eq.equipment_book,
        actor=user,
        equipment=device,
        start=body.start,
        end=end,
        purpose=body.purpose or body.procedure,
        patient_mrn=body.patient_mrn,
        patient_initials=body.patient_initials,
    )
    return Status(201, equipment_booking_out(e, user=user))


class DecisionIn(Schema):
    note: str = ""


class StatusIn(Schema):
    status: str
    reason: str = ""


class RescheduleIn(Schema):
    delay_minutes: int = 0
    room: str = ""


def _out(user: Any, b: ORBooking) -> dict[str, Any]:
    return or_booking_out(orq.booking_get(user=user, pk=b.pk), user=user)


@or_router.post("/bookings/{booking_id}/approve", summary="Approve an OR booking (OR head nurse)")
def booking_approve(request: HttpRequest, booking_id: int, body: DecisionIn) -> Any:
    b = _call(orq.booking_decide, actor=request.user, booking=booking_id, approve=True, note=body.note)
    return _out(request.user, b)


@or_router.post("/bookings/{booking_id}/reject", summary="Reject an OR booking (OR head nurse)")
def booking_reject(request: HttpRequest, booking_id: int, body: DecisionIn) -> Any:
    b = _call(orq.booking_decide, actor=request.user, booking=booking_id, approve=False, note=body.note)
    return _out(request.user, b)


@or_router.post(
    "/bookings/{booking_id}/status", summary="A case's progress: in_room, incision, ended, cancelled"
)
def booking_status(request: HttpRequest, booking_id: int, body: StatusIn) -> Any:
    b = _call(
        orq.booking_status_set, actor=request.user, booking=booking_id, status=body.status, reason=body.reason
    )
    return _out(request.user, b)


@or_router.post("/bookings/{booking_id}/reschedule", summary="Delay a case or move it to another room")
def booking_reschedule(request: HttpRequest, booking_id: int, body: RescheduleIn) -> Any:
    b = _call(
        orq.booking_reschedule,
        actor=request.user,
        booking=booking_id,
        delay_minutes=body.delay_minutes,
        room=body.room or None,
    )
    return _out(request.user, b)


@or_router.post(
    "/equipment-bookings/{booking_id}/{action}", summary="Cancel, start or finish a device booking"
)
def equipment_booking_action(request: HttpRequest, booking_id: int, action: str) -> Any:
    if action == "cancel":
        e = _call(eq.equipment_booking_cancel, actor=request.user, booking=booking_id)
    elif action in ("start", "finish"):
        e = _call(eq.equipment_booking_use, actor=request.user, booking=booking_id, action=action)
    else:
        raise HttpError(404, "Not found")
    e = EquipmentBooking.objects.select_related("equipment", "equipment__department").get(pk=e.pk)
    return equipment_booking_out(e, user=request.user)


class EquipmentStatusIn(Schema):
    status: str
    note: str = ""


@or_router.post("/equipment/{code}/status", summary="Set a device available, in use or in maintenance")
def equipment_status(request: HttpRequest, code: str, body: EquipmentStatusIn) -> Any:
    device = _call(eq.equipment_get, user=request.user, code_or_pk=code)
    device = _call(
        eq.equipment_status_set, actor=request.user, equipment=device, status=body.status, note=body.note
    )
    return {"code": device.code, "status": device.status, "status_since": _iso(device.status_since)}


@or_router.get(
    "/equipment/utilisation", summary="Equipment utilisation: booked and used hours ÷ available hours"
)
def equipment_utilisation(request: HttpRequest, date: str = "", days: int = 1) -> Any:
    if not has_perm(request.user, eq.PERM_EQ_MANAGE):
        raise HttpError(403, "Forbidden")
    if not 1 <= days <= 31:
        raise _error(eq.ResourceError(_("Give 1 to 31 days."), field="days"))
    day = _day(date)
    rows = eq.equipment_utilisation(user=request.user, first=day, days=days)
    return {
        "from": day.isoformat(),
        "days": days,
        "equipment": [
            {
                "code": u.equipment.code,
                "name": u.equipment.name,
                "kind": u.equipment.kind,
                "status": u.equipment.status,
                "available_hours": u.available_hours,
                "booked_hours": u.booked_hours,
                "used_hours": u.used_hours,
                "booked_ratio": u.booked_ratio,
                "used_ratio": u.used_ratio,
            }
            for u in rows
        ],
    }
