"""Operating rooms: booking requests with conflict checks, approval by the OR head nurse, status
updates, the overrun rule and the rescheduling it offers.

Conflicts (checked in one transaction, after locking the room, the surgeon's and anaesthetist's
``Staff`` rows and the devices' rows in a fixed order — on PostgreSQL two concurrent requests for
the same slot queue on those row locks, and the second sees the first's booking):

- ``room``: another active case in the room overlaps;
- ``turnover``: it ends less than the room's turnover buffer (default 30 min) before, or starts
  less than that after;
- ``surgeon`` / ``anaesthetist``: the person is on another active case (as either) that overlaps;
- ``equipment``: a device is booked then (by a case or on its own), or ``maintenance``.

The first conflict is raised as ``ResourceConflict`` (409) naming the booking in the way.

Who: the holders of role ``head_nurse`` in the room's OR department approve
(``resources.or.approve``, department scope); OR nurses (``resources.or.status``, department
scope) and the case's own surgeon and anaesthetist set the status; a running case that passes its
planned end by 30 minutes (``MEDOA_OR_OVERRUN_MINUTES``) is reported once by the periodic job
``resources.or_overrun``: event ``resources.or.overrun`` and notifications to the next cases'
teams, the OR head nurses and the anaesthesia department's head, with a link to the coordination
page (delay by N minutes / move to another room, conflicts re-checked).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict

from medoa.core.access.choices import DataScope
from medoa.core.access.permissions import Permission, permissions
from medoa.core.access.permissions import register as register_permission
from medoa.core.access.policy import has_perm, scope_q
from medoa.core.audit.services import audit_record
from medoa.core.clinical.models import Encounter
from medoa.core.events.registry import EventType, Subscriber, event_types, subscribers
from medoa.core.events.services import publish
from medoa.core.notify.services import notification_send
from medoa.core.org.models import Department, Staff
from medoa.core.org.selectors import role_holders
from medoa.core.registries import MenuEntry, PeriodicJob, demo_loaders, menu, periodic_jobs

from .equipment import (
    PERM_EQ_BOOK,
    PERM_EQ_MANAGE,
    PERM_EQ_VIEW,
    Conflict,
    ResourceConflict,
    ResourceError,
    booking_done,
    booking_in_use,
    booking_label,
    conflict_error,
    day_bounds,
    equipment_conflicts,
    equipment_reserve,
    lock_equipment,
)
from .models_or import (
    OR_ACTIVE,
    OR_RUNNING,
    EquipmentBookingStatus,
    MedicalEquipment,
    OperatingRoom,
    ORBooking,
    ORBookingStatus,
)

log = logging.getLogger("medoa.resources.or")

PERM_OR_VIEW = "resources.or.view"
PERM_OR_BOOK = "resources.or.book"
PERM_OR_APPROVE = "resources.or.approve"
PERM_OR_STATUS = "resources.or.status"
PERM_OR_COORDINATE = "resources.or.coordinate"
OR_HEAD_NURSE_ROLE = "head_nurse"
ANAESTHESIA_HEAD_ROLE = "dept_head"
DEFAULT_OVERRUN_MINUTES = 30
MAX_CASE_MINUTES = 24 * 60
NEXT_CASES = 3
NEXT_CASES_HOURS = 12  # an overrunning case holds up the room's cases at least this long after its end

D, DT, A = DataScope.DEPARTMENT, DataScope.DEPARTMENT_TREE, DataScope.ALL

PERMISSIONS = (
    Permission(
        PERM_OR_VIEW,
        _("See the operating-room schedule"),
        defaults={
            "doctor": A,
            "dept_head": A,
            "head_nurse": D,
            "nurse": D,
            "medical_affairs": A,
            "nursing_dept": A,
            "it": A,
            "sys_admin": A,
        },
        group="resources",
    ),
    Permission(
        PERM_OR_BOOK,
        _("Request operating-room bookings"),
        defaults={"doctor": A, "dept_head": A, "head_nurse": D, "medical_affairs": A},
        group="resources",
    ),
    Permission(
        PERM_OR_APPROVE,
        _("Approve or reject operating-room bookings (OR head nurse)"),
        defaults={"head_nurse": D},
        group="resources",
    ),
    Permission(
        PERM_OR_STATUS,
        _("Record a case's progress (in room, incision, ended)"),
        defaults={"nurse": D, "head_nurse": D},
        group="resources",
    ),
    Permission(
        PERM_OR_COORDINATE,
        _("Reschedule operating-room cases (delay, move to another room)"),
        defaults={"head_nurse": D, "dept_head": DT, "medical_affairs": A},
        group="resources",
    ),
    Permission(
        PERM_EQ_VIEW,
        _("See the equipment calendar"),
        defaults={
            "doctor": A,
            "dept_head": A,
            "head_nurse": A,
            "nurse": A,
            "equipment": A,
            "medical_affairs": A,
            "it": A,
            "sys_admin": A,
        },
        group="resources",
    ),
    Permission(
        PERM_EQ_BOOK,
        _("Book expensive equipment"),
        defaults={"doctor": A, "dept_head": A, "head_nurse": A, "equipment": A},
        group="resources",
    ),
    Permission(
        PERM_EQ_MANAGE,
        _("Manage equipment status and bookings, see utilisation"),
        defaults={"equipment": A, "dept_head": D, "medical_affairs": A},
        group="resources",
    ),
)


# --- events -----------------------------------------------------------------------------------


class TeamMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str
    username: str = ""
    name: str = ""


class NextCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_id: int
    room: str
    procedure: str
    planned_start: str
    planned_end: str
    status: str
    team: list[TeamMember] = []


class ORStatusChanged(BaseModel):
    """``resources.or.status_changed``: a case changed status (requested, approved, rejected,
    in_room, incision, ended, cancelled) or was rescheduled."""

    model_config = ConfigDict(extra="forbid")
    booking_id: int
    room: str
    status: str
    previous_status: str = ""
    planned_start: str
    planned_end: str
    at: str
    source: str = ""
    surgeon: str = ""
    anaesthetist: str = ""


class OROverrun(BaseModel):
    """``resources.or.overrun``: a running case passed its planned end by the overrun limit."""

    model_config = ConfigDict(extra="forbid")
    booking_id: int
    room: str
    procedure: str
    planned_end: str
    overrun_minutes: int
    minutes_over: int  # the same figure, the name the demo rule template uses
    coordinator: str = ""  # an OR head nurse's username (a process initiator for rules)
    next_cases: list[NextCase] = []


class ORStatusReported(BaseModel):
    """``resources.or.status_reported``: another system (anaesthesia, OR display) reports a case's
    progress; the subscriber applies it as if an OR nurse had pressed the button."""

    model_config = ConfigDict(extra="forbid")
    booking_id: int
    status: str
    at: str | None = None


EVENT_TYPES = (
    EventType(
        "resources.or.status_changed",
        ORStatusChanged,
        label=_("OR case status changed"),
        description=_("An operating-room case was requested, decided, started, ended or moved."),
        api_publish=False,
    ),
    EventType(
        "resources.or.overrun",
        OROverrun,
        label=_("OR case overrun"),
        description=_("A case is running past its planned end; the next cases need coordinating."),
        api_publish=False,
    ),
    EventType(
        "resources.or.status_reported",
        ORStatusReported,
        label=_("OR case progress reported"),
        description=_("Another system reports that a case is in the room, at incision or ended."),
        api_publish=True,
    ),
)


# --- helpers ----------------------------------------------------------------------------------


def overrun_minutes_limit() -> int:
    return int(getattr(settings, "MEDOA_OR_OVERRUN_MINUTES", DEFAULT_OVERRUN_MINUTES))


def anaesthesia_department(room: OperatingRoom) -> Department | None:
    if room.anaesthesia_department_id:
        return Department.objects.get(pk=room.anaesthesia_department_id)
    dept = Department.objects.filter(pk=room.department_id).select_related("parent").first()
    return dept.parent if dept is not None else None


def _username(staff: Staff | None) -> str:
    user = getattr(staff, "user", None) if staff is not None else None
    return getattr(user, "username", "") if user is not None else ""


def _users(people: Iterable[Staff | None]) -> list[Any]:
    out = []
    for p in people:
        if p is not None and p.user is not None and p.user not in out:
            out.append(p.user)
    return out


def _staff_of(actor: Any) -> Staff | None:
    return Staff.objects.filter(user=actor).first() if getattr(actor, "pk", None) else None


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


def _when(value: dt.datetime) -> str:
    return f"{timezone.localtime(value):%m-%d %H:%M}"


def _effective_end(b: ORBooking, now: dt.datetime) -> dt.datetime:
    """A running case holds its room until it ends, even past its planned end."""
    if b.status in OR_RUNNING and now > b.planned_end:
        return now
    return b.planned_end


def _lock(
    room_id: int, staff_ids: Iterable[int | None], equipment_ids: Iterable[int]
) -> list[MedicalEquipment]:
    """Lock the room, then the people, then the devices — always in this order, ids ascending."""
    list(OperatingRoom.objects.select_for_update().filter(pk=room_id))
    people = sorted({pk for pk in staff_ids if pk})
    if people:
        list(Staff.objects.select_for_update().filter(pk__in=people).order_by("pk"))
    return lock_equipment(equipment_ids)


def or_conflicts(
    *,
    room: OperatingRoom,
    surgeon_id: int,
    anaesthetist_id: int | None,
    start: dt.datetime,
    end: dt.datetime,
    devices: Sequence[MedicalEquipment] = (),
    exclude: int | None = None,
) -> list[Conflict]:
    """Every conflict of a case in ``room`` from ``start`` to ``end`` (see the module's doc)."""
    now = timezone.now()
    out: list[Conflict] = []
    buffer = dt.timedelta(minutes=room.turnover_minutes)
    near = (
        ORBooking.objects.select_related("room")
        .filter(room=room, status__in=OR_ACTIVE, planned_start__lt=end + buffer)
        .filter(Q(planned_end__gt=start - buffer) | Q(status__in=OR_RUNNING))
        .exclude(pk=exclude or 0)
        .order_by("planned_start", "pk")
    )
    for other in near:
        o_end = _effective_end(other, now)
        if other.planned_start < end and o_end > start:
            out.append(
                Conflict(
                    "room",
                    other,
                    gettext("%(room)s is booked at that time by %(booking)s.")
                    % {"room": room.code, "booking": booking_label(other)},
                    room.code,
                )
            )
        elif other.planned_start < end + buffer and o_end + buffer > start:
            out.append(
                Conflict(
                    "turnover",
                    other,
                    gettext("%(room)s needs %(minutes)s minutes between cases; too close to %(booking)s.")
                    % {"room": room.code, "minutes": room.turnover_minutes, "booking": booking_label(other)},
                    room.code,
                )
            )
    for kind, person_id in (("surgeon", surgeon_id), ("anaesthetist", anaesthetist_id)):
        if not person_id:
            continue
        busy = (
            ORBooking.objects.select_related("room", "surgeon", "anaesthetist")
            .filter(Q(surgeon_id=person_id) | Q(anaesthetist_id=person_id), status__in=OR_ACTIVE)
            .filter(planned_start__lt=end)
            .filter(Q(planned_end__gt=start) | Q(status__in=OR_RUNNING))
            .exclude(pk=exclude or 0)
            .order_by("planned_start", "pk")
        )
        for other in busy:
            if _effective_end(other, now) <= start:
                continue
            person = other.surgeon if other.surgeon_id == person_id else other.anaesthetist
            message = (
                gettext("The surgeon %(name)s is on %(booking)s at that time.")
                if kind == "surgeon"
                else gettext("The anaesthetist %(name)s is on %(booking)s at that time.")
            )
            out.append(
                Conflict(
                    kind,
                    other,
                    message % {"name": getattr(person, "name", ""), "booking": booking_label(other)},
                    other.room.code,
                )
            )
            break
    out.extend(equipment_conflicts(devices, start, end, exclude_or_booking=exclude))
    return out


def _clean_staff(pk: Any, field: str, *, required: bool) -> Staff | None:
    if pk in (None, "", 0):
        if required:
            raise ResourceError(_("This field is required."), field=field)
        return None
    staff = Staff.objects.select_related("user", "department").filter(pk=pk).first()
    if staff is None or staff.status != "active":
        raise ResourceError(_("There is no such person on the staff."), field=field)
    return staff


def _room_for(user: Any, room: OperatingRoom | int | str, *, field: str = "room") -> OperatingRoom:
    if isinstance(room, OperatingRoom):
        found: OperatingRoom | None = room
    else:
        qs = OperatingRoom.objects.select_related("department")
        found = qs.filter(code=str(room)).first()
        if found is None and str(room).isdigit():
            found = qs.filter(pk=int(room)).first()
    if found is None or not found.is_active or not has_perm(user, PERM_OR_VIEW, department=found.department):
        raise ResourceError(
            _("There is no such operating room."), field=field, status=404 if field == "" else 400
        )
    return found


def room_get(*, user: Any, room: OperatingRoom | int | str) -> OperatingRoom:
    return _room_for(user, room, field="resource")


def _payload(b: ORBooking, *, previous: str, at: dt.datetime, source: str) -> dict[str, Any]:
    return {
        "booking_id": b.pk,
        "room": b.room.code,
        "status": b.status,
        "previous_status": previous,
        "planned_start": b.planned_start.isoformat(),
        "planned_end": b.planned_end.isoformat(),
        "at": at.isoformat(),
        "source": source,
        "surgeon": _username(b.surgeon),
        "anaesthetist": _username(b.anaesthetist),
    }


def _touch(b: ORBooking, fields: list[str]) -> None:
    b.revision += 1
    b.updated_at = timezone.now()
    b.save(update_fields=[*fields, "revision", "updated_at"])


# --- booking ----------------------------------------------------------------------------------


@transaction.atomic
def booking_request(
    *,
    actor: Any,
    room: OperatingRoom | int | str,
    patient_mrn: str,
    procedure: str,
    surgeon: Staff | int,
    planned_start: dt.datetime,
    duration_minutes: int,
    anaesthetist: Staff | int | None = None,
    patient_initials: str = "",
    visit_number: str = "",
    equipment: Iterable[MedicalEquipment | int | str] = (),
    note: str = "",
) -> ORBooking:
    """Request a case; the OR head nurses are told. 409 naming the booking in the way."""
    if not has_perm(actor, PERM_OR_BOOK):
        raise ResourceError(_("You may not book operating rooms."), status=403)
    the_room = _room_for(actor, room)
    patient_mrn, procedure = (patient_mrn or "").strip(), (procedure or "").strip()
    if not patient_mrn:
        raise ResourceError(_("This field is required."), field="patient_mrn")
    if not procedure:
        raise ResourceError(_("This field is required."), field="procedure")
    if len(procedure) > 200:
        raise ResourceError(_("The procedure is too long (at most 200 characters)."), field="procedure")
    if len(note) > 300:
        raise ResourceError(_("The note is too long (at most 300 characters)."), field="note")
    if not isinstance(planned_start, dt.datetime) or timezone.is_naive(planned_start):
        raise ResourceError(_("Give times with their time zone."), field="planned_start")
    if not isinstance(duration_minutes, int) or not 5 <= duration_minutes <= MAX_CASE_MINUTES:
        raise ResourceError(
            _("The duration must be 5 to %(max)s minutes."),
            {"max": MAX_CASE_MINUTES},
            field="duration_minutes",
        )
    surgeon_row = _clean_staff(
        surgeon.pk if isinstance(surgeon, Staff) else surgeon, "surgeon", required=True
    )
    anaes_row = _clean_staff(
        anaesthetist.pk if isinstance(anaesthetist, Staff) else anaesthetist, "anaesthetist", required=False
    )
    assert surgeon_row is not None
    if anaes_row is not None and anaes_row.pk == surgeon_row.pk:
        raise ResourceError(_("The anaesthetist cannot be the surgeon."), field="anaesthetist")
    device_ids: list[int] = []
    for item in equipment:
        if isinstance(item, MedicalEquipment):
            device_ids.append(item.pk)
            continue
        found = MedicalEquipment.objects.filter(
            Q(code=str(item)) | Q(pk=int(item) if str(item).isdigit() else 0)
        )
        device = found.first()
        if device is None:
            raise ResourceError(_("There is no such equipment: %(code)s."), {"code": item}, field="equipment")
        device_ids.append(device.pk)
    encounter = None
    visit_number = (visit_number or "").strip()
    if visit_number:
        encounter = (
            Encounter.objects.select_related("patient")
            .filter(visit_number=visit_number)
            .order_by("-id")
            .first()
        )
        if encounter is not None and not patient_initials:
            patient_initials = encounter.patient.initials
    start = planned_start
    end = start + dt.timedelta(minutes=duration_minutes)
    devices = _lock(the_room.pk, (surgeon_row.pk, anaes_row.pk if anaes_row else None), device_ids)
    found_conflicts = or_conflicts(
        room=the_room,
        surgeon_id=surgeon_row.pk,
        anaesthetist_id=anaes_row.pk if anaes_row else None,
        start=start,
        end=end,
        devices=devices,
    )
    if found_conflicts:
        raise conflict_error(found_conflicts[0])
    booking = ORBooking.objects.create(
        room=the_room,
        patient_mrn=patient_mrn[:100],
        patient_initials=(patient_initials or "")[:16],
        visit_number=visit_number[:100],
        encounter=encounter,
        procedure=procedure,
        surgeon=surgeon_row,
        anaesthetist=anaes_row,
        planned_start=start,
        duration_minutes=duration_minutes,
        planned_end=end,
        note=note,
        requested_by=actor,
    )
    equipment_reserve(
        devices=devices,
        start=start,
        end=end,
        actor=actor,
        or_booking=booking,
        purpose=procedure,
        patient_mrn=patient_mrn,
        patient_initials=booking.patient_initials,
        department=the_room.department,
    )
    now = timezone.now()
    audit_record(
        actor=actor,
        action="resources.or.requested",
        target=booking,
        details={"room": the_room.code, "start": start.isoformat(), "minutes": duration_minutes},
    )
    publish(
        "resources.or.status_changed",
        _payload(booking, previous="", at=now, source="request"),
        actor=actor,
    )
    notification_send(
        recipients=_users(role_holders(OR_HEAD_NURSE_ROLE, the_room.department)),
        title=gettext("OR booking to approve: %(room)s %(when)s")
        % {"room": the_room.code, "when": _when(start)},
        body=f"{procedure} · {surgeon_row.name}",
        link="/resources/or/approvals/",
        kind="task",
        data={"or_booking": booking.pk},
    )
    return booking


def _locked(pk: ORBooking | int) -> ORBooking:
    key = pk.pk if isinstance(pk, ORBooking) else int(pk)
    found = (
        ORBooking.objects.select_for_update(of=("self",))
        .select_related("room", "room__department", "surgeon__user", "anaesthetist__user")
        .filter(pk=key)
        .first()
    )
    if found is None:
        raise ResourceError(_("There is no such booking."), status=404)
    return found


def _visible(actor: Any, b: ORBooking) -> bool:
    return has_perm(actor, PERM_OR_VIEW, department=b.room.department)


@transaction.atomic
def booking_decide(*, actor: Any, booking: ORBooking | int, approve: bool, note: str = "") -> ORBooking:
    """The OR head nurse approves (conflicts re-checked) or rejects (with a reason) a request."""
    b = _locked(booking)
    if not _visible(actor, b):
        raise ResourceError(_("There is no such booking."), status=404)
    if not has_perm(actor, PERM_OR_APPROVE, department=b.room.department):
        raise ResourceError(_("Only the OR head nurse may approve or reject bookings."), status=403)
    if b.status != ORBookingStatus.REQUESTED:
        raise ResourceConflict(
            _("This booking is %(status)s, not waiting for approval."),
            {"status": ORBookingStatus(b.status).label},
            field="status",
        )
    note = (note or "").strip()
    if not approve and not note:
        raise ResourceError(_("Give a reason."), field="note")
    if approve:
        device_ids = list(b.equipment_bookings.values_list("equipment_id", flat=True))
        devices = _lock(b.room_id, (b.surgeon_id, b.anaesthetist_id), device_ids)
        found = or_conflicts(
            room=b.room,
            surgeon_id=b.surgeon_id,
            anaesthetist_id=b.anaesthetist_id,
            start=b.planned_start,
            end=b.planned_end,
            devices=devices,
            exclude=b.pk,
        )
        if found:
            raise conflict_error(found[0])
    now = timezone.now()
    previous = b.status
    b.status = ORBookingStatus.APPROVED if approve else ORBookingStatus.REJECTED
    b.decided_by, b.decided_at, b.decision_note = actor, now, note[:300]
    _touch(b, ["status", "decided_by", "decided_at", "decision_note"])
    if not approve:
        b.equipment_bookings.filter(status__in=(EquipmentBookingStatus.BOOKED,)).update(
            status=EquipmentBookingStatus.CANCELLED, cancelled_at=now
        )
    audit_record(
        actor=actor,
        action="resources.or.approved" if approve else "resources.or.rejected",
        target=b,
        details={"note": note},
    )
    publish(
        "resources.or.status_changed", _payload(b, previous=previous, at=now, source="decision"), actor=actor
    )
    recipients = _users([b.surgeon, b.anaesthetist])
    if b.requested_by is not None and b.requested_by not in recipients:
        recipients.append(b.requested_by)
    notification_send(
        recipients=recipients,
        title=(
            gettext("OR booking approved: %(booking)s")
            if approve
            else gettext("OR booking rejected: %(booking)s")
        )
        % {"booking": booking_label(b)},
        body=note,
        link=f"/resources/or/?date={timezone.localtime(b.planned_start):%Y-%m-%d}",
        kind="info",
        data={"or_booking": b.pk},
    )
    return b


# status → (allowed from, timestamp field)
STATUS_FLOW: dict[str, tuple[tuple[str, ...], str]] = {
    ORBookingStatus.IN_ROOM: ((ORBookingStatus.APPROVED,), "in_room_at"),
    ORBookingStatus.INCISION: ((ORBookingStatus.IN_ROOM,), "incision_at"),
    ORBookingStatus.ENDED: ((ORBookingStatus.IN_ROOM, ORBookingStatus.INCISION), "ended_at"),
    ORBookingStatus.CANCELLED: ((ORBookingStatus.REQUESTED, ORBookingStatus.APPROVED), "cancelled_at"),
}


def _may_set_status(actor: Any, b: ORBooking, status: str) -> bool:
    if actor is None:  # a system report (event)
        return True
    staff = _staff_of(actor)
    on_team = staff is not None and staff.pk in (b.surgeon_id, b.anaesthetist_id)
    if status == ORBookingStatus.CANCELLED:
        return (
            on_team
            or b.requested_by_id == actor.pk
            or has_perm(actor, PERM_OR_APPROVE, department=b.room.department)
        )
    return on_team or has_perm(actor, PERM_OR_STATUS, department=b.room.department)


@transaction.atomic
def booking_status_set(
    *,
    actor: Any,
    booking: ORBooking | int,
    status: str,
    at: dt.datetime | None = None,
    source: str = "manual",
    reason: str = "",
) -> ORBooking:
    """A case goes in room → incision → ended (or is cancelled before it starts). ``actor`` None:
    a system's report (the ``resources.or.status_reported`` subscriber)."""
    b = _locked(booking)
    if actor is not None and not _visible(actor, b):
        raise ResourceError(_("There is no such booking."), status=404)
    if status not in STATUS_FLOW:
        raise ResourceError(
            _("Unknown status; use one of: %(choices)s."), {"choices": ", ".join(STATUS_FLOW)}, field="status"
        )
    if not _may_set_status(actor, b, status):
        raise ResourceError(_("You may not change this case's status."), status=403)
    allowed, field = STATUS_FLOW[status]
    if b.status not in allowed:
        raise ResourceConflict(
            _("A case cannot go from %(from)s to %(to)s."),
            {"from": ORBookingStatus(b.status).label, "to": ORBookingStatus(status).label},
            field="status",
        )
    when = at or timezone.now()
    previous = b.status
    b.status = status
    setattr(b, field, when)
    fields = ["status", field]
    if status == ORBookingStatus.CANCELLED and reason:
        b.decision_note = reason[:300]
        fields.append("decision_note")
    _touch(b, fields)
    for eb in b.equipment_bookings.select_for_update().filter(
        status__in=(EquipmentBookingStatus.BOOKED, EquipmentBookingStatus.IN_USE)
    ):
        if status == ORBookingStatus.IN_ROOM and eb.status == EquipmentBookingStatus.BOOKED:
            booking_in_use(eb, when)
        elif status == ORBookingStatus.ENDED:
            booking_done(eb, when)
        elif status == ORBookingStatus.CANCELLED:
            eb.status, eb.cancelled_at = EquipmentBookingStatus.CANCELLED, when
            eb.save(update_fields=["status", "cancelled_at"])
    audit_record(
        actor=actor,
        actor_name="" if actor is not None else source,
        action=f"resources.or.{status}",
        target=b,
        details={"from": previous, "at": when.isoformat(), "source": source, "reason": reason},
    )
    publish(
        "resources.or.status_changed", _payload(b, previous=previous, at=when, source=source), actor=actor
    )
    return b


def status_reported_handler(event: Any) -> None:
    """Subscriber of ``resources.or.status_reported``: apply another system's report once (a
    repeated delivery finds the case already there and does nothing)."""
    payload = event.payload
    at = None
    if payload.get("at"):
        try:
            at = dt.datetime.fromisoformat(payload["at"])
        except ValueError:
            at = None
    b = ORBooking.objects.filter(pk=payload.get("booking_id")).first()
    if b is None or b.status == payload.get("status"):
        return
    try:
        booking_status_set(
            actor=None, booking=b.pk, status=payload["status"], at=at, source=f"event:{event.pk}"
        )
    except ResourceError as exc:
        log.info("OR status report %s not applied: %s", event.pk, exc.message)


# --- rescheduling -----------------------------------------------------------------------------


@transaction.atomic
def booking_reschedule(
    *,
    actor: Any,
    booking: ORBooking | int,
    delay_minutes: int = 0,
    room: OperatingRoom | int | str | None = None,
    planned_start: dt.datetime | None = None,
) -> ORBooking:
    """Delay a case not yet started, or move it to another room (or both); every conflict is
    checked again, the team told."""
    b = _locked(booking)
    if not _visible(actor, b):
        raise ResourceError(_("There is no such booking."), status=404)
    if not (
        has_perm(actor, PERM_OR_COORDINATE, department=b.room.department)
        or has_perm(actor, PERM_OR_APPROVE, department=b.room.department)
    ):
        raise ResourceError(_("You may not reschedule cases."), status=403)
    if b.status not in (ORBookingStatus.REQUESTED, ORBookingStatus.APPROVED):
        raise ResourceConflict(_("Only a case not yet started can be rescheduled."), field="status")
    target = _room_for(actor, room) if room not in (None, "") else b.room
    if not isinstance(delay_minutes, int) or not -MAX_CASE_MINUTES <= delay_minutes <= MAX_CASE_MINUTES:
        raise ResourceError(_("The delay must be a number of minutes."), field="delay_minutes")
    start = (planned_start or b.planned_start) + dt.timedelta(minutes=delay_minutes)
    end = start + dt.timedelta(minutes=b.duration_minutes)
    if target.pk == b.room_id and start == b.planned_start:
        raise ResourceError(_("Nothing to change: give a delay or another room."), field="delay_minutes")
    device_ids = list(b.equipment_bookings.values_list("equipment_id", flat=True))
    room_ids = sorted({b.room_id, target.pk})
    for rid in room_ids[:-1]:
        list(OperatingRoom.objects.select_for_update().filter(pk=rid))
    devices = _lock(room_ids[-1], (b.surgeon_id, b.anaesthetist_id), device_ids)
    found = or_conflicts(
        room=target,
        surgeon_id=b.surgeon_id,
        anaesthetist_id=b.anaesthetist_id,
        start=start,
        end=end,
        devices=devices,
        exclude=b.pk,
    )
    if found:
        raise conflict_error(found[0])
    before = {"room": b.room.code, "start": b.planned_start.isoformat()}
    b.room, b.planned_start, b.planned_end = target, start, end
    _touch(b, ["room", "planned_start", "planned_end"])
    b.equipment_bookings.filter(status=EquipmentBookingStatus.BOOKED).update(start=start, end=end)
    now = timezone.now()
    audit_record(
        actor=actor,
        action="resources.or.rescheduled",
        target=b,
        details={"before": before, "room": target.code, "start": start.isoformat()},
    )
    publish(
        "resources.or.status_changed",
        _payload(b, previous=b.status, at=now, source="reschedule"),
        actor=actor,
    )
    notification_send(
        recipients=_users([b.surgeon, b.anaesthetist]),
        title=gettext("OR case moved: %(booking)s") % {"booking": booking_label(b)},
        body=b.procedure,
        link=f"/resources/or/?date={timezone.localtime(start):%Y-%m-%d}",
        kind="info",
        data={"or_booking": b.pk},
    )
    return b


# --- the overrun rule -------------------------------------------------------------------------


def next_cases(b: ORBooking, *, limit: int = NEXT_CASES) -> list[ORBooking]:
    """The cases after ``b`` in its room, not yet started, up to the end of the day ``b`` should
    have ended — and at least ``NEXT_CASES_HOURS`` after that end, so that a case running late in
    the evening still names the first cases after midnight it holds up."""
    _day_start, day_end = day_bounds(timezone.localtime(b.planned_end).date())
    day_end = max(day_end, b.planned_end + dt.timedelta(hours=NEXT_CASES_HOURS))
    return list(
        ORBooking.objects.select_related("room", "surgeon__user", "anaesthetist__user")
        .filter(
            room_id=b.room_id,
            status__in=(ORBookingStatus.REQUESTED, ORBookingStatus.APPROVED),
            planned_start__gte=b.planned_start,
            planned_start__lt=day_end,
        )
        .exclude(pk=b.pk)
        .order_by("planned_start", "pk")[:limit]
    )


def _team(b: ORBooking) -> list[dict[str, str]]:
    out = [{"role": "surgeon", "username": _username(b.surgeon), "name": b.surgeon.name}]
    if b.anaesthetist is not None:
        out.append(
            {"role": "anaesthetist", "username": _username(b.anaesthetist), "name": b.anaesthetist.name}
        )
    return out


def overrun_scan(now: dt.datetime | None = None, limit: int = 50) -> int:
    """Periodic job ``resources.or_overrun``: report each running case past its planned end by the
    limit, once (``overrun_at``); returns how many it reported."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=overrun_minutes_limit())
    ids = list(
        ORBooking.objects.filter(status__in=OR_RUNNING, overrun_at__isnull=True, planned_end__lte=cutoff)
        .order_by("planned_end")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in ids:
        if overrun_report(pk, now=now):
            done += 1
    return done


@transaction.atomic
def overrun_report(pk: int, *, now: dt.datetime) -> bool:
    b = (
        ORBooking.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("room", "room__department", "surgeon__user", "anaesthetist__user")
        .filter(pk=pk, overrun_at__isnull=True, status__in=OR_RUNNING)
        .first()
    )
    if b is None:
        return False
    minutes = int((now - b.planned_end).total_seconds() // 60)
    b.overrun_at = now
    _touch(b, ["overrun_at"])
    following = next_cases(b)
    head_nurses = role_holders(OR_HEAD_NURSE_ROLE, b.room.department)
    anaes_dept = anaesthesia_department(b.room)
    anaes_heads = role_holders(ANAESTHESIA_HEAD_ROLE, anaes_dept) if anaes_dept is not None else []
    publish(
        "resources.or.overrun",
        {
            "booking_id": b.pk,
            "room": b.room.code,
            "procedure": b.procedure,
            "planned_end": b.planned_end.isoformat(),
            "overrun_minutes": minutes,
            "minutes_over": minutes,
            "coordinator": _username(head_nurses[0]) if head_nurses else "",
            "next_cases": [
                {
                    "booking_id": n.pk,
                    "room": n.room.code,
                    "procedure": n.procedure,
                    "planned_start": n.planned_start.isoformat(),
                    "planned_end": n.planned_end.isoformat(),
                    "status": n.status,
                    "team": _team(n),
                }
                for n in following
            ],
        },
        key=f"or-overrun-{b.pk}",
    )
    link = f"/resources/or/bookings/{b.pk}/coordinate/"
    title = gettext("%(room)s is running %(minutes)s minutes over") % {
        "room": b.room.code,
        "minutes": minutes,
    }
    if following:
        body = gettext("Next: %(cases)s. Choose: delay or move to another room.") % {
            "cases": "; ".join(f"{_when(n.planned_start)} {n.procedure}" for n in following)
        }
    else:
        body = gettext("No further case in this room today.")
    team = [p for n in following for p in (n.surgeon, n.anaesthetist)]
    notification_send(
        recipients=_users([*team, *head_nurses, *anaes_heads]),
        title=title,
        body=body,
        link=link,
        kind="alert",
        urgent=True,
        data={"or_booking": b.pk, "next": [n.pk for n in following]},
    )
    audit_record(
        actor=None,
        actor_name="system",
        action="resources.or.overrun",
        target=b,
        details={"minutes": minutes, "next": [n.pk for n in following]},
    )
    return True


# --- reads ------------------------------------------------------------------------------------


def room_list(*, user: Any) -> QuerySet[OperatingRoom]:
    return (
        OperatingRoom.objects.filter(scope_q(user, PERM_OR_VIEW), is_active=True)
        .select_related("department")
        .order_by("sort_order", "code")
    )


def day_bookings(
    *, rooms: Sequence[OperatingRoom], day: dt.date, statuses: Iterable[str] | None = None
) -> list[ORBooking]:
    start, end = day_bounds(day)
    qs = ORBooking.objects.filter(room__in=list(rooms), planned_start__lt=end, planned_end__gt=start)
    if statuses is not None:
        qs = qs.filter(status__in=list(statuses))
    return list(
        qs.select_related("room", "surgeon", "anaesthetist")
        .prefetch_related("equipment_bookings__equipment")
        .order_by("room__sort_order", "planned_start", "pk")
    )


def approvals_for(*, user: Any) -> list[ORBooking]:
    """The requests waiting for ``user`` as an OR head nurse."""
    return list(
        ORBooking.objects.filter(
            scope_q(user, PERM_OR_APPROVE, department_field="room__department"),
            status=ORBookingStatus.REQUESTED,
        )
        .select_related("room", "surgeon", "anaesthetist")
        .prefetch_related("equipment_bookings__equipment")
        .order_by("planned_start", "pk")
    )


def booking_get(*, user: Any, pk: int) -> ORBooking:
    b = (
        ORBooking.objects.select_related("room", "room__department", "surgeon", "anaesthetist")
        .filter(pk=pk)
        .first()
    )
    if b is None or not _visible(user, b):
        raise ResourceError(_("There is no such booking."), status=404)
    return b


# --- registration -----------------------------------------------------------------------------

MENU = (
    MenuEntry("resources.or", _("Operating rooms"), "resources:or_day", order=52, permission=PERM_OR_VIEW),
    MenuEntry(
        "resources.or_approvals",
        _("OR approvals"),
        "resources:or_approvals",
        order=53,
        permission=PERM_OR_APPROVE,
    ),
    MenuEntry(
        "resources.equipment",
        _("Equipment calendar"),
        "resources:equipment_day",
        order=54,
        permission=PERM_EQ_VIEW,
    ),
)
STATUS_SUBSCRIBER = Subscriber(
    "resources.or_status_reported",
    ("resources.or.status_reported",),
    status_reported_handler,
    label=_("Operating rooms: apply case progress reported by other systems"),
)
OVERRUN_JOB = PeriodicJob("resources.or_overrun", overrun_scan, every_seconds=60.0)


def register() -> None:
    """Everything the OR and equipment part registers; called from ``ResourcesConfig.ready()``.
    Idempotent (a second call finds its own objects registered)."""
    from .demo_or import DEMO_LOADER  # the demo imports this module

    known = {p.code for p in permissions}
    for permission in PERMISSIONS:
        if permission.code not in known:
            register_permission(permission)
    for event_type in EVENT_TYPES:
        if event_type.name not in event_types:
            event_types.register(event_type)
    if not any(s is STATUS_SUBSCRIBER for s in subscribers):
        subscribers.register(STATUS_SUBSCRIBER)
    periodic_jobs.register(OVERRUN_JOB.key, OVERRUN_JOB)
    for entry in MENU:
        menu.register(entry.key, entry)
    demo_loaders.register(DEMO_LOADER.key, DEMO_LOADER)
