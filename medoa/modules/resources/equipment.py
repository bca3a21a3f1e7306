"""Expensive equipment (CT, MRI, ventilators, ultrasound …): bookings with conflict checks, the
device's status (available, in use, maintenance) and its utilisation.

A booking locks its device's row (``SELECT … FOR UPDATE`` on PostgreSQL) before it looks for
overlaps, so two requests for the same slot cannot both pass. OR cases book their equipment
through ``operating.booking_request``, which uses ``equipment_conflicts`` and
``equipment_reserve`` here inside its own transaction.

Utilisation of a device over some days: booked hours (active and done bookings, clipped to the
device's daily availability window) and used hours (``used_from``→``used_to``) ÷ available hours
(the window per day, ``available_from``→``available_to``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm, scope_q
from medoa.core.audit.services import audit_record
from medoa.core.org.models import Department

from .models_or import (
    EQUIPMENT_ACTIVE,
    EquipmentBooking,
    EquipmentBookingStatus,
    EquipmentStatus,
    MedicalEquipment,
)

PERM_EQ_VIEW = "resources.equipment.view"
PERM_EQ_BOOK = "resources.equipment.book"
PERM_EQ_MANAGE = "resources.equipment.manage"
MAX_BOOKING_HOURS = 24


class ResourceError(Exception):
    """A refused change: ``status`` 400/403/404/409, ``field`` the input at fault, ``conflict`` the
    booking in the way (409)."""

    status = 400

    def __init__(
        self,
        message: Any,
        params: dict[str, Any] | None = None,
        *,
        field: str | None = None,
        status: int | None = None,
        conflict: Any = None,
        kind: str = "",
    ) -> None:
        self.msgid = message
        self.params = params or {}
        self.message = str(message) % self.params if params else str(message)
        super().__init__(self.message)
        self.field = field
        self.conflict = conflict
        self.kind = kind
        if status is not None:
            self.status = status


class ResourceConflict(ResourceError):
    status = 409


@dataclass(frozen=True)
class Conflict:
    """What stands in the way of a booking: ``kind`` room, turnover, surgeon, anaesthetist,
    equipment or maintenance; ``booking`` the ORBooking or EquipmentBooking (None for
    maintenance)."""

    kind: str
    booking: Any
    message: str
    resource: str = ""


def booking_label(booking: Any) -> str:
    """How a message names a booking: ``#12 (OR-3 09:00–11:00)``."""
    if booking is None:
        return ""
    if isinstance(booking, EquipmentBooking):
        start, end, where = booking.start, booking.end, booking.equipment.code
        prefix = "E"
    else:
        start, end, where = booking.planned_start, booking.planned_end, booking.room.code
        prefix = ""
    s, e = timezone.localtime(start), timezone.localtime(end)
    return f"{prefix}#{booking.pk} ({where} {s:%Y-%m-%d %H:%M}–{e:%H:%M})"


def conflict_error(conflict: Conflict) -> ResourceConflict:
    return ResourceConflict(conflict.message, field="start", conflict=conflict.booking, kind=conflict.kind)


# --- conflicts --------------------------------------------------------------------------------


def lock_equipment(ids: Iterable[int]) -> list[MedicalEquipment]:
    """Lock the devices' rows in id order (one order everywhere: no deadlock)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(MedicalEquipment.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))


def equipment_conflicts(
    devices: Sequence[MedicalEquipment],
    start: dt.datetime,
    end: dt.datetime,
    *,
    exclude_or_booking: int | None = None,
    exclude: int | None = None,
) -> list[Conflict]:
    out: list[Conflict] = []
    for device in devices:
        if device.status == EquipmentStatus.MAINTENANCE or not device.is_active:
            out.append(
                Conflict(
                    "maintenance",
                    None,
                    gettext("%(equipment)s is under maintenance.") % {"equipment": device.name},
                    device.code,
                )
            )
    if not devices:
        return out
    qs = EquipmentBooking.objects.select_related("equipment", "or_booking").filter(
        equipment__in=[d.pk for d in devices], status__in=EQUIPMENT_ACTIVE, start__lt=end, end__gt=start
    )
    if exclude_or_booking is not None:
        qs = qs.exclude(or_booking_id=exclude_or_booking)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    for other in qs.order_by("start", "pk"):
        named = other.or_booking if other.or_booking_id else other
        out.append(
            Conflict(
                "equipment",
                other,
                gettext("%(equipment)s is booked at that time by %(booking)s.")
                % {"equipment": other.equipment.name, "booking": booking_label(named)},
                other.equipment.code,
            )
        )
    return out


def equipment_reserve(
    *,
    devices: Sequence[MedicalEquipment],
    start: dt.datetime,
    end: dt.datetime,
    actor: Any,
    or_booking: Any = None,
    purpose: str = "",
    patient_mrn: str = "",
    patient_initials: str = "",
    department: Department | None = None,
) -> list[EquipmentBooking]:
    return [
        EquipmentBooking.objects.create(
            equipment=d,
            or_booking=or_booking,
            start=start,
            end=end,
            purpose=purpose[:200],
            patient_mrn=patient_mrn[:100],
            patient_initials=patient_initials[:16],
            department=department,
            booked_by=actor,
        )
        for d in devices
    ]


# --- bookings ---------------------------------------------------------------------------------


def _staff_department(actor: Any) -> Department | None:
    staff = getattr(actor, "staff", None)
    return getattr(staff, "department", None)


def equipment_get(*, user: Any, code_or_pk: str | int) -> MedicalEquipment:
    qs = MedicalEquipment.objects.select_related("department")
    found = qs.filter(code=str(code_or_pk)).first()
    if found is None and str(code_or_pk).isdigit():
        found = qs.filter(pk=int(code_or_pk)).first()
    if found is None or not has_perm(user, PERM_EQ_VIEW, department=found.department):
        raise ResourceError(_("There is no such equipment."), field="resource", status=404)
    return found


@transaction.atomic
def equipment_book(
    *,
    actor: Any,
    equipment: MedicalEquipment | int,
    start: dt.datetime,
    end: dt.datetime,
    purpose: str = "",
    patient_mrn: str = "",
    patient_initials: str = "",
) -> EquipmentBooking:
    """Book a device from ``start`` to ``end``; 409 naming the booking in the way."""
    pk = equipment.pk if isinstance(equipment, MedicalEquipment) else int(equipment)
    device = MedicalEquipment.objects.select_related("department").filter(pk=pk).first()
    if device is None or not has_perm(actor, PERM_EQ_VIEW, department=device.department):
        raise ResourceError(_("There is no such equipment."), field="resource", status=404)
    if not has_perm(actor, PERM_EQ_BOOK):
        raise ResourceError(_("You may not book equipment."), status=403)
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ResourceError(_("Give times with their time zone."), field="start")
    if end <= start:
        raise ResourceError(_("The end must come after the start."), field="end")
    if end - start > dt.timedelta(hours=MAX_BOOKING_HOURS):
        raise ResourceError(
            _("A booking lasts at most %(hours)s hours."), {"hours": MAX_BOOKING_HOURS}, field="end"
        )
    if len(purpose) > 200:
        raise ResourceError(_("The purpose is too long (at most 200 characters)."), field="purpose")
    devices = lock_equipment([pk])
    found = equipment_conflicts(devices, start, end)
    if found:
        raise conflict_error(found[0])
    (booking,) = equipment_reserve(
        devices=devices,
        start=start,
        end=end,
        actor=actor,
        purpose=purpose,
        patient_mrn=patient_mrn,
        patient_initials=patient_initials,
        department=_staff_department(actor),
    )
    audit_record(
        actor=actor,
        action="resources.equipment.booked",
        target=booking,
        details={"equipment": device.code, "start": start.isoformat(), "end": end.isoformat()},
    )
    return booking


def _locked_booking(pk: int) -> EquipmentBooking:
    found = (
        EquipmentBooking.objects.select_for_update(of=("self",))
        .select_related("equipment", "equipment__department")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise ResourceError(_("There is no such booking."), status=404)
    return found


def _may_manage(actor: Any, booking: EquipmentBooking) -> bool:
    return booking.booked_by_id == getattr(actor, "pk", None) or has_perm(
        actor, PERM_EQ_MANAGE, department=booking.equipment.department
    )


@transaction.atomic
def equipment_booking_cancel(
    *, actor: Any, booking: EquipmentBooking | int, reason: str = ""
) -> EquipmentBooking:
    row = _locked_booking(booking.pk if isinstance(booking, EquipmentBooking) else int(booking))
    if not has_perm(actor, PERM_EQ_VIEW, department=row.equipment.department):
        raise ResourceError(_("There is no such booking."), status=404)
    if not _may_manage(actor, row) or row.or_booking_id:
        raise ResourceError(_("You may not change this booking."), status=403)
    if row.status not in EQUIPMENT_ACTIVE:
        raise ResourceConflict(_("This booking has already ended."), field="status")
    row.status = EquipmentBookingStatus.CANCELLED
    row.cancelled_at = timezone.now()
    row.save(update_fields=["status", "cancelled_at"])
    audit_record(
        actor=actor, action="resources.equipment.booking_cancelled", target=row, details={"reason": reason}
    )
    return row


@transaction.atomic
def equipment_booking_use(*, actor: Any, booking: EquipmentBooking | int, action: str) -> EquipmentBooking:
    """``action`` start (in use from now) or finish (done now): the used hours of utilisation."""
    row = _locked_booking(booking.pk if isinstance(booking, EquipmentBooking) else int(booking))
    if not has_perm(actor, PERM_EQ_VIEW, department=row.equipment.department):
        raise ResourceError(_("There is no such booking."), status=404)
    if not _may_manage(actor, row):
        raise ResourceError(_("You may not change this booking."), status=403)
    now = timezone.now()
    if action == "start" and row.status == EquipmentBookingStatus.BOOKED:
        booking_in_use(row, now)
    elif action == "finish" and row.status in EQUIPMENT_ACTIVE:
        booking_done(row, now)
    else:
        raise ResourceConflict(_("This booking cannot do that now."), field="action")
    audit_record(actor=actor, action=f"resources.equipment.booking_{action}", target=row)
    return row


def booking_in_use(row: EquipmentBooking, at: dt.datetime) -> None:
    row.status = EquipmentBookingStatus.IN_USE
    row.used_from = at
    row.save(update_fields=["status", "used_from"])
    device = MedicalEquipment.objects.select_for_update().get(pk=row.equipment_id)
    if device.status == EquipmentStatus.AVAILABLE:
        device.status, device.status_since = EquipmentStatus.IN_USE, at
        device.save(update_fields=["status", "status_since"])


def booking_done(row: EquipmentBooking, at: dt.datetime) -> None:
    row.status = EquipmentBookingStatus.DONE
    row.used_from = row.used_from or at
    row.used_to = at
    row.save(update_fields=["status", "used_from", "used_to"])
    device = MedicalEquipment.objects.select_for_update().get(pk=row.equipment_id)
    still = EquipmentBooking.objects.filter(equipment=device, status=EquipmentBookingStatus.IN_USE).exists()
    if device.status == EquipmentStatus.IN_USE and not still:
        device.status, device.status_since = EquipmentStatus.AVAILABLE, at
        device.save(update_fields=["status", "status_since"])


@transaction.atomic
def equipment_status_set(
    *, actor: Any, equipment: MedicalEquipment | int, status: str, note: str = ""
) -> MedicalEquipment:
    """设备科 (or the owning department's head) sets a device available, in use or in maintenance."""
    pk = equipment.pk if isinstance(equipment, MedicalEquipment) else int(equipment)
    device = MedicalEquipment.objects.select_for_update().filter(pk=pk).first()
    if device is None or not has_perm(actor, PERM_EQ_VIEW, department=device.department):
        raise ResourceError(_("There is no such equipment."), status=404)
    if not has_perm(actor, PERM_EQ_MANAGE, department=device.department):
        raise ResourceError(_("You may not change this equipment's status."), status=403)
    if status not in EquipmentStatus.values:
        raise ResourceError(
            _("Unknown status; use one of: %(choices)s."),
            {"choices": ", ".join(EquipmentStatus.values)},
            field="status",
        )
    if status == EquipmentStatus.MAINTENANCE and not note.strip():
        raise ResourceError(_("Give a reason."), field="note")
    before = device.status
    device.status, device.status_since, device.status_note = status, timezone.now(), note.strip()[:200]
    device.save(update_fields=["status", "status_since", "status_note"])
    audit_record(
        actor=actor,
        action="resources.equipment.status_changed",
        target=device,
        details={"from": before, "to": status, "note": device.status_note},
    )
    return device


# --- reads ------------------------------------------------------------------------------------


def equipment_list(*, user: Any) -> QuerySet[MedicalEquipment]:
    return (
        MedicalEquipment.objects.filter(scope_q(user, PERM_EQ_VIEW), is_active=True)
        .select_related("department")
        .order_by("kind", "code")
    )


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def equipment_bookings(
    *, devices: Iterable[MedicalEquipment], start: dt.datetime, end: dt.datetime
) -> list[EquipmentBooking]:
    return list(
        EquipmentBooking.objects.filter(
            Q(status__in=(*EQUIPMENT_ACTIVE, EquipmentBookingStatus.DONE)),
            equipment__in=list(devices),
            start__lt=end,
            end__gt=start,
        )
        .select_related("equipment", "or_booking", "or_booking__room")
        .order_by("start", "pk")
    )


def _overlap_hours(a0: dt.datetime, a1: dt.datetime, b0: dt.datetime, b1: dt.datetime) -> float:
    lo, hi = max(a0, b0), min(a1, b1)
    return max((hi - lo).total_seconds(), 0.0) / 3600


@dataclass
class Utilisation:
    equipment: MedicalEquipment
    available_hours: float
    booked_hours: float
    used_hours: float

    @property
    def booked_ratio(self) -> float:
        return round(self.booked_hours / self.available_hours, 4) if self.available_hours else 0.0

    @property
    def used_ratio(self) -> float:
        return round(self.used_hours / self.available_hours, 4) if self.available_hours else 0.0


def _windows(device: MedicalEquipment, first: dt.date, days: int) -> list[tuple[dt.datetime, dt.datetime]]:
    tz = timezone.get_current_timezone()
    out = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        a = dt.datetime.combine(day, device.available_from, tzinfo=tz)
        b = dt.datetime.combine(day, device.available_to, tzinfo=tz)
        if b <= a:  # open through midnight (e.g. 00:00–00:00: all day)
            b += dt.timedelta(days=1)
        out.append((a, b))
    return out


def equipment_utilisation(*, user: Any, first: dt.date, days: int = 1) -> list[Utilisation]:
    """Per device: available hours over ``days`` days from ``first``, and the booked and used hours
    inside those windows (one query for the bookings)."""
    devices = list(equipment_list(user=user))
    start, _x = day_bounds(first)
    end = start + dt.timedelta(days=days + 1)
    by_device: dict[int, list[EquipmentBooking]] = {}
    for b in equipment_bookings(devices=devices, start=start - dt.timedelta(days=1), end=end):
        by_device.setdefault(b.equipment_id, []).append(b)
    out = []
    for device in devices:
        windows = _windows(device, first, days)
        available = sum((b - a).total_seconds() for a, b in windows) / 3600
        booked = used = 0.0
        for b in by_device.get(device.pk, []):
            for a0, a1 in windows:
                booked += _overlap_hours(a0, a1, b.start, b.end)
                if b.used_from:
                    used += _overlap_hours(a0, a1, b.used_from, b.used_to or timezone.now())
        out.append(Utilisation(device, round(available, 2), round(booked, 2), round(used, 2)))
    return out
