"""Every change of a bed: occupancy from the clinical events, manual status changes, the cleaning
after a discharge. Each change writes a ``BedHistory`` row and bumps the bed's ``revision`` (the
bed board's live updates compare it).

Changes made by people are audited; changes made by the clinical events are recorded in the bed
history with their event (the event itself is the audit trail of what HIS said).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.events.services import publish
from medoa.core.notify.services import notification_send
from medoa.core.org.models import Department, Staff
from medoa.core.org.selectors import department_root, role_holders, role_members
from medoa.engines.flow.choices import TaskStatus
from medoa.engines.flow.errors import FlowError
from medoa.engines.flow.models import HumanTask, ProcessDefinition
from medoa.engines.flow.services import definition_deploy, message_correlate, task_act

from .beds_choices import BedStatus, CleaningStatus
from .models import DEFAULT_CLEANING_MINUTES, Bed, BedCleaning, BedHistory, HandledEvent, WardSettings

log = logging.getLogger("medoa.resources")

PERM_VIEW = "resources.beds.view"
PERM_PATIENT = "resources.beds.patient"
PERM_RESERVE = "resources.beds.reserve"
PERM_MAINTAIN = "resources.beds.maintain"
PERM_CLEAN = "resources.beds.clean"
PERM_SETTINGS = "resources.beds.settings"
PERM_SIMULATE = "resources.simulate"

PROCESS_KEY = "bed_cleaning"
MSG_REQUESTED = "resources.bed_cleaning.requested"
MSG_CANCELLED = "resources.bed_cleaning.cancelled"
ADMISSION_OFFICE_ROLE = "medical_affairs"
HOUSEKEEPING_ROLE = "housekeeping"
LOGISTICS_ROLE = "logistics"

OPEN_CLEANING = (CleaningStatus.WAITING, CleaningStatus.IN_PROGRESS)

# Manual changes through the status API / board: target → (allowed from, permission).
MANUAL_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    BedStatus.RESERVED: ((BedStatus.AVAILABLE,), PERM_RESERVE),
    BedStatus.OUT_OF_SERVICE: (
        (BedStatus.AVAILABLE, BedStatus.RESERVED, BedStatus.TO_CLEAN),
        PERM_MAINTAIN,
    ),
    BedStatus.AVAILABLE: ((BedStatus.RESERVED, BedStatus.OUT_OF_SERVICE, BedStatus.CLEANING), PERM_RESERVE),
    BedStatus.CLEANING: ((BedStatus.TO_CLEAN,), PERM_CLEAN),
}


class BedError(Exception):
    """A refused change: ``status`` 400/403/404/409, ``field`` the input at fault."""

    status = 400

    def __init__(
        self,
        message: Any,
        params: dict[str, Any] | None = None,
        *,
        field: str | None = None,
        status: int | None = None,
    ) -> None:
        self.msgid = message
        self.params = params or {}
        self.message = str(message) % self.params if params else str(message)
        super().__init__(self.message)
        self.field = field
        if status is not None:
            self.status = status


class BedConflict(BedError):
    status = 409


# --- helpers ----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return timezone.now()


def _record(
    bed: Bed,
    to_status: str,
    *,
    actor: Any = None,
    actor_name: str = "",
    source: str = "",
    event_id: int | None = None,
    reason: str = "",
    at: dt.datetime | None = None,
    initials: str | None = None,
    visit: str | None = None,
) -> BedHistory:
    """Change ``bed``'s status (the caller set its occupant fields) and write its history row."""
    now = at or _now()
    previous = bed.status
    if previous != to_status:
        bed.status = to_status
        bed.status_since = now
    bed.revision += 1
    bed.updated_at = now
    bed.save()
    return BedHistory.objects.create(
        bed=bed,
        from_status=previous,
        to_status=to_status,
        at=now,
        actor=actor,
        actor_name=(actor_name or (getattr(actor, "username", "") if actor is not None else ""))[:150],
        source=source[:120],
        event_id=event_id,
        reason=str(reason)[:300],
        patient_initials=(bed.patient_initials if initials is None else initials)[:16],
        visit_number=(bed.visit_number if visit is None else visit)[:100],
    )


def _clear_occupant(bed: Bed) -> None:
    bed.encounter_id = None
    bed.patient_initials = ""
    bed.patient_mrn = ""
    bed.visit_number = ""
    bed.attending = ""
    bed.occupied_since = None


@dataclass(frozen=True)
class Occupant:
    encounter_id: int | None
    initials: str
    mrn: str
    visit_number: str
    attending: str
    since: dt.datetime | None = None


def _set_occupant(bed: Bed, who: Occupant, at: dt.datetime) -> None:
    same = bed.encounter_id is not None and bed.encounter_id == who.encounter_id
    bed.encounter_id = who.encounter_id
    bed.patient_initials = who.initials[:16]
    bed.patient_mrn = who.mrn[:100]
    bed.visit_number = who.visit_number[:100]
    bed.attending = who.attending[:150]
    if not same or bed.occupied_since is None:
        bed.occupied_since = who.since or at


def ward_settings(ward: Department) -> WardSettings:
    found = WardSettings.objects.filter(ward=ward).select_related("housekeeping_area").first()
    return found or WardSettings(ward=ward, cleaning_minutes=DEFAULT_CLEANING_MINUTES)


def cleaners_for(ward: Department) -> list[Staff]:
    """The housekeeping staff who clean ``ward``: the holders of role ``housekeeping`` for the ward's
    housekeeping area (its setting; else the ward itself: the nearest assignment up the tree —
    the ward, its department, its building, the hospital — wins), else every housekeeper."""
    settings_row = ward_settings(ward)
    area = settings_row.housekeeping_area or ward
    people = role_holders(HOUSEKEEPING_ROLE, area)
    if not people:
        root = department_root()
        people = list(role_members(HOUSEKEEPING_ROLE, root)) if root is not None else []
    return people


def _users(people: list[Staff]) -> list[Any]:
    return [p.user for p in people if p.user is not None]


# --- occupancy from the clinical events -------------------------------------------------------


def event_claim(event_id: int) -> bool:
    """Mark ``event_id`` as handled; False when it already was (a repeated delivery)."""
    if HandledEvent.objects.filter(event_id=event_id).exists():
        return False
    try:
        with transaction.atomic():
            HandledEvent.objects.create(event_id=event_id)
    except IntegrityError:
        return False
    return True


def bed_find(ward_code: str, bed_code: str, *, lock: bool = True) -> Bed | None:
    if not ward_code or not bed_code:
        return None
    qs = Bed.objects.filter(ward__code=ward_code, code=bed_code)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.first()


def _bed_of_encounter(encounter_id: int | None, *, lock: bool = True) -> Bed | None:
    if encounter_id is None:
        return None
    qs = Bed.objects.filter(encounter_id=encounter_id)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.first()


def bed_occupy(
    *, bed: Bed, who: Occupant, source: str, event_id: int | None, at: dt.datetime, reason: str = ""
) -> BedHistory:
    """HIS says the patient lies in ``bed``: it is occupied, whatever it was (HIS is the source of
    truth for where patients lie; a cleaning still open on the bed is cancelled)."""
    if bed.status in (BedStatus.TO_CLEAN, BedStatus.CLEANING):
        for cleaning in BedCleaning.objects.select_for_update().filter(bed=bed, status__in=OPEN_CLEANING):
            _cleaning_cancel(cleaning, reason=gettext("The bed was occupied again."), at=at)
    if (
        bed.status == BedStatus.OCCUPIED
        and bed.encounter_id
        and who.encounter_id
        and bed.encounter_id != who.encounter_id
    ):
        reason = reason or gettext("Replaces visit %(visit)s.") % {
            "visit": bed.visit_number or bed.encounter_id
        }
    _set_occupant(bed, who, at)
    return _record(bed, BedStatus.OCCUPIED, actor_name="HIS", source=source, event_id=event_id, reason=reason)


def bed_release(
    *, bed: Bed, to_status: str, source: str, event_id: int | None, reason: str = "", at: dt.datetime
) -> BedHistory:
    """The patient left ``bed`` (transfer out, admission cancelled, discharge)."""
    initials, visit = bed.patient_initials, bed.visit_number
    _clear_occupant(bed)
    return _record(
        bed,
        to_status,
        actor_name="HIS",
        source=source,
        event_id=event_id,
        reason=reason,
        initials=initials,
        visit=visit,
    )


def _occupant_of(payload: dict[str, Any], at: dt.datetime) -> Occupant:
    admitted = payload.get("admitted_at")
    since = None
    if admitted:
        try:
            since = dt.datetime.fromisoformat(str(admitted))
        except ValueError:
            since = None
    return Occupant(
        encounter_id=payload.get("encounter_id"),
        initials=str(payload.get("patient_initials") or ""),
        mrn=str(payload.get("patient_id") or ""),
        visit_number=str(payload.get("visit_number") or ""),
        attending=str(payload.get("attending_doctor") or ""),
        since=since or at,
    )


def _occurred(payload: dict[str, Any]) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(payload.get("occurred_at")))
    except (TypeError, ValueError):
        return _now()
    return value if timezone.is_aware(value) else timezone.make_aware(value)


@transaction.atomic
def apply_encounter_event(*, event_id: int, kind: str, payload: dict[str, Any]) -> list[BedHistory]:
    """Apply one ``clinical.patient.<kind>`` event to the beds (idempotent by ``event_id``)."""
    if not event_claim(event_id):
        return []
    at = _occurred(payload)
    source = f"event:{event_id}"
    ward, code = str(payload.get("ward") or ""), str(payload.get("bed") or "")
    enc_id = payload.get("encounter_id")
    out: list[BedHistory] = []
    if kind in ("admitted", "transferred"):
        if kind == "transferred":
            prior = bed_find(str(payload.get("prior_ward") or ""), str(payload.get("prior_bed") or ""))
            if prior is None or prior.encounter_id != enc_id:
                prior = _bed_of_encounter(enc_id)
            if (
                prior is not None
                and prior.encounter_id == enc_id
                and (prior.ward.code, prior.code) != (ward, code)
            ):
                out.append(
                    bed_release(
                        bed=prior,
                        to_status=BedStatus.AVAILABLE,
                        source=source,
                        event_id=event_id,
                        reason=gettext("Transferred out"),
                        at=at,
                    )
                )
        bed = bed_find(ward, code)
        if bed is None:
            log.info("bed board: %s names no known bed (%s/%s)", source, ward, code)
            return out
        if kind == "admitted":
            # an admission to another bed than the one the visit held: that one is freed
            old = _bed_of_encounter(enc_id)
            if old is not None and old.pk != bed.pk:
                out.append(
                    bed_release(
                        bed=old, to_status=BedStatus.AVAILABLE, source=source, event_id=event_id, at=at
                    )
                )
        out.append(
            bed_occupy(bed=bed, who=_occupant_of(payload, at), source=source, event_id=event_id, at=at)
        )
    elif kind == "updated":
        bed = _bed_of_encounter(enc_id)
        if bed is not None and bed.status == BedStatus.OCCUPIED:
            who = _occupant_of(payload, at)
            if (bed.patient_initials, bed.attending, bed.patient_mrn) != (
                who.initials,
                who.attending,
                who.mrn,
            ):
                _set_occupant(bed, who, at)
                out.append(
                    _record(
                        bed,
                        BedStatus.OCCUPIED,
                        actor_name="HIS",
                        source=source,
                        event_id=event_id,
                        reason=gettext("Patient information updated"),
                    )
                )
    elif kind == "admission_cancelled":
        bed = bed_find(ward, code)
        if bed is None or bed.encounter_id != enc_id:
            bed = _bed_of_encounter(enc_id)
        if bed is not None and bed.encounter_id == enc_id:
            out.append(
                bed_release(
                    bed=bed,
                    to_status=BedStatus.AVAILABLE,
                    source=source,
                    event_id=event_id,
                    reason=gettext("Admission cancelled"),
                    at=at,
                )
            )
    elif kind == "discharged":
        bed = bed_find(ward, code)
        if bed is None or (bed.encounter_id not in (None, enc_id)):
            bed = _bed_of_encounter(enc_id) or bed
        if bed is None:
            log.info("bed board: %s names no known bed (%s/%s)", source, ward, code)
            return out
        out.append(cleaning_request(bed=bed, payload=payload, event_id=event_id, at=at))
    elif kind == "discharge_cancelled":
        out.extend(_discharge_cancel(payload=payload, event_id=event_id, at=at))
    return out


def _discharge_cancel(*, payload: dict[str, Any], event_id: int, at: dt.datetime) -> list[BedHistory]:
    enc_id = payload.get("encounter_id")
    source = f"event:{event_id}"
    out: list[BedHistory] = []
    cleaning = (
        BedCleaning.objects.select_for_update()
        .filter(encounter_id=enc_id, status__in=OPEN_CLEANING)
        .order_by("-id")
        .first()
        if enc_id is not None
        else None
    )
    bed: Bed | None = None
    if cleaning is not None:
        _cleaning_cancel(cleaning, reason=gettext("Discharge cancelled"), at=at)
        bed = Bed.objects.select_for_update(of=("self",)).get(pk=cleaning.bed_id)
    wanted = bed_find(str(payload.get("ward") or ""), str(payload.get("bed") or ""))
    if wanted is not None:
        bed = wanted if bed is None or wanted.pk != bed.pk else bed
        if cleaning is not None and wanted.pk != cleaning.bed_id:
            # the patient returns to another bed than the one left: the old one is to clean still
            old = Bed.objects.select_for_update(of=("self",)).get(pk=cleaning.bed_id)
            if old.status == BedStatus.CLEANING:
                out.append(
                    _record(old, BedStatus.TO_CLEAN, actor_name="HIS", source=source, event_id=event_id)
                )
    if bed is None:
        return out
    if bed.status == BedStatus.OCCUPIED and bed.encounter_id not in (None, enc_id):
        log.warning("bed board: %s returns a patient to bed %s held by another visit", source, bed.pk)
        return out
    out.append(
        bed_occupy(
            bed=bed,
            who=_occupant_of(payload, at),
            source=source,
            event_id=event_id,
            at=at,
            reason=gettext("Discharge cancelled"),
        )
    )
    return out


# --- the cleaning after a discharge -----------------------------------------------------------


def cleaning_request(
    *, bed: Bed, payload: dict[str, Any], event_id: int | None, at: dt.datetime
) -> BedHistory:
    """The patient left ``bed``: it is 待清洁 and a cleaning (with its process) starts."""

    for old in BedCleaning.objects.select_for_update().filter(bed=bed, status__in=OPEN_CLEANING):
        _cleaning_cancel(old, reason=gettext("A new discharge from this bed."), at=at)
    ward = Department.objects.get(pk=bed.ward_id)
    settings_row = ward_settings(ward)
    minutes = settings_row.cleaning_minutes or DEFAULT_CLEANING_MINUTES
    now = _now()
    cleaning = BedCleaning.objects.create(
        bed=bed,
        ward=ward,
        event_id=event_id,
        encounter_id=bed.encounter_id or payload.get("encounter_id"),
        visit_number=bed.visit_number or str(payload.get("visit_number") or ""),
        patient_initials=bed.patient_initials or str(payload.get("patient_initials") or ""),
        patient_mrn=bed.patient_mrn or str(payload.get("patient_id") or ""),
        attending=bed.attending or str(payload.get("attending_doctor") or ""),
        discharged_at=at,
        requested_at=now,
        time_limit_minutes=minutes,
        due_at=now + dt.timedelta(minutes=minutes),
    )
    history = bed_release(
        bed=bed,
        to_status=BedStatus.TO_CLEAN,
        source=f"event:{event_id}" if event_id else "cleaning",
        event_id=event_id,
        reason=gettext("Discharged"),
        at=at,
    )
    cleaners = [p.user.username for p in cleaners_for(ward)]
    if cleaners and _process_deployed():
        result = message_correlate(
            actor=None,
            name=MSG_REQUESTED,
            business_key=cleaning.business_key,
            variables={
                "cleaning_id": cleaning.pk,
                "bed_id": bed.pk,
                "bed": bed.code,
                "room": bed.room.code if bed.room_id else "",
                "ward": ward.code,
                "ward_name": ward.name_zh,
                "cleaners": cleaners,
                "time_limit": f"PT{minutes}M",
            },
        )
        if result.started:
            cleaning.process_instance_id = result.started[0].pk
            cleaning.save(update_fields=["process_instance_id"])
    elif not cleaners:
        log.warning("bed board: nobody holds %r for ward %s", HOUSEKEEPING_ROLE, ward.code)
    return history


def _process_deployed() -> bool:

    return ProcessDefinition.objects.filter(
        key=PROCESS_KEY, is_active=True, latest_version__isnull=False
    ).exists()


def _cleaning_cancel(cleaning: BedCleaning, *, reason: str, at: dt.datetime) -> None:

    cleaning.status = CleaningStatus.CANCELLED
    cleaning.cancelled_at = _now()
    cleaning.save(update_fields=["status", "cancelled_at"])
    if cleaning.process_instance_id:
        message_correlate(actor=None, name=MSG_CANCELLED, business_key=cleaning.business_key, variables={})


def _flow_task(cleaning: BedCleaning) -> Any:

    if not cleaning.process_instance_id:
        return None
    return (
        HumanTask.objects.filter(instance_id=cleaning.process_instance_id, status=TaskStatus.OPEN)
        .order_by("id")
        .first()
    )


def _can_clean(actor: Any, cleaning: BedCleaning) -> bool:
    ward = Department.objects.get(pk=cleaning.ward_id)
    return has_perm(actor, PERM_CLEAN, department=ward)


def _locked_cleaning(cleaning: BedCleaning | int) -> BedCleaning:
    pk = cleaning.pk if isinstance(cleaning, BedCleaning) else int(cleaning)
    found = BedCleaning.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise BedError(_("There is no such cleaning."), status=404)
    return found


@transaction.atomic
def cleaning_start(*, actor: Any, cleaning: BedCleaning | int) -> BedCleaning:
    """A cleaner starts: the bed is 清洁中 and the cleaning task is theirs (claimed)."""

    row = _locked_cleaning(cleaning)
    if not _can_clean(actor, row):
        raise BedError(_("You may not clean this bed."), status=403)
    if row.status != CleaningStatus.WAITING:
        raise BedConflict(_("This cleaning has already started or ended."), field="status")
    bed = Bed.objects.select_for_update(of=("self",)).get(pk=row.bed_id)
    if bed.status != BedStatus.TO_CLEAN:
        raise BedConflict(
            _("The bed is %(status)s, not to clean."),
            {"status": BedStatus(bed.status).label},
            field="status",
        )
    task = _flow_task(row)
    if task is not None and task.assignee_id is None:
        try:
            task_act(actor=actor, task=task, action="claim")
        except FlowError as exc:
            raise BedConflict(exc.message) from None
    now = _now()
    row.status = CleaningStatus.IN_PROGRESS
    row.started_at = now
    row.started_by = actor
    row.save(update_fields=["status", "started_at", "started_by"])
    _record(bed, BedStatus.CLEANING, actor=actor, source=f"cleaning:{row.pk}", at=now)
    audit_record(
        actor=actor, action="resources.bed.cleaning_started", target=bed, details={"cleaning": row.pk}
    )
    return row


@transaction.atomic
def cleaning_finish(*, actor: Any, cleaning: BedCleaning | int) -> BedCleaning:
    """The cleaner is done: the bed is 空闲, the cleaning task completed, the ward's head nurse and
    the admission office told; the turnaround (discharge → available) is recorded."""

    row = _locked_cleaning(cleaning)
    if not _can_clean(actor, row):
        raise BedError(_("You may not clean this bed."), status=403)
    if row.status not in OPEN_CLEANING:
        raise BedConflict(_("This cleaning has already ended."), field="status")
    task = _flow_task(row)
    _cleaning_done(row, actor=actor)
    if task is not None:
        try:
            if task.assignee_id is None:
                task_act(actor=actor, task=task, action="claim")
            task_act(actor=actor, task=task, action="complete", variables={"cleaned_by": actor.username})
        except FlowError as exc:
            raise BedConflict(exc.message) from None
    audit_record(
        actor=actor, action="resources.bed.cleaning_finished", target=row.bed, details={"cleaning": row.pk}
    )
    return row


def _cleaning_done(row: BedCleaning, *, actor: Any) -> None:
    now = _now()
    bed = Bed.objects.select_for_update(of=("self",)).get(pk=row.bed_id)
    row.status = CleaningStatus.DONE
    row.finished_at = now
    row.finished_by = actor
    if row.started_at is None:
        row.started_at = now
        row.started_by = actor
    row.turnaround_seconds = max(int((now - row.discharged_at).total_seconds()), 0)
    row.save()
    if bed.status in (BedStatus.TO_CLEAN, BedStatus.CLEANING):
        _record(bed, BedStatus.AVAILABLE, actor=actor, source=f"cleaning:{row.pk}", at=now)
    ward = Department.objects.get(pk=row.ward_id)
    recipients = _users(role_holders("head_nurse", ward))
    root = department_root()
    if root is not None:
        recipients += _users(list(role_members(ADMISSION_OFFICE_ROLE, root)))
    title = gettext("Bed %(bed)s of %(ward)s is available") % {"bed": bed.code, "ward": ward.name_zh}
    notification_send(
        recipients=recipients,
        title=title,
        body=gettext("Cleaned after discharge; turnaround %(minutes)s min.")
        % {"minutes": round(row.turnaround_seconds / 60)},
        link=f"/resources/beds/?ward={ward.code}",
        kind="info",
        data={"bed": bed.pk, "cleaning": row.pk},
    )
    publish(
        "resources.bed.cleaned",
        {
            "bed_id": bed.pk,
            "ward": ward.code,
            "room": bed.room.code if bed.room_id else "",
            "bed": bed.code,
            "cleaning_id": row.pk,
            "discharged_at": row.discharged_at.isoformat(),
            "finished_at": now.isoformat(),
            "turnaround_seconds": row.turnaround_seconds,
            "cleaned_by": getattr(actor, "username", "") if actor is not None else "",
        },
        actor=actor,
    )


def cleaning_done_step(variables: dict[str, Any]) -> dict[str, Any] | None:
    """Script task ``resources.cleaning_done``: when the cleaning task was completed elsewhere (the
    inbox), the bed becomes available here; after ``cleaning_finish`` it does nothing."""

    pk = variables.get("cleaning_id")
    row = BedCleaning.objects.select_for_update().filter(pk=pk).first() if pk else None
    if row is None or row.status not in OPEN_CLEANING:
        return None
    username = variables.get("cleaned_by") or ""
    actor = get_user_model().objects.filter(username=username).first() if username else None
    _cleaning_done(row, actor=actor)
    return {"cleaned": True}


def cleaning_overdue_step(variables: dict[str, Any]) -> dict[str, Any] | None:
    """Script task ``resources.cleaning_overdue`` (the time limit passed): the logistics
    supervisors are told."""
    pk = variables.get("cleaning_id")
    row = (
        BedCleaning.objects.select_for_update().select_related("bed", "ward").filter(pk=pk).first()
        if pk
        else None
    )
    if row is None or row.status not in OPEN_CLEANING or row.escalated_at is not None:
        return None
    row.escalated_at = _now()
    row.save(update_fields=["escalated_at"])
    root = department_root()
    recipients = _users(list(role_members(LOGISTICS_ROLE, root))) if root is not None else []
    notification_send(
        recipients=recipients,
        title=gettext("Overdue bed cleaning: %(ward)s bed %(bed)s")
        % {"ward": row.ward.name_zh, "bed": row.bed.code},
        body=gettext("Not cleaned within %(minutes)s minutes of the discharge.")
        % {"minutes": row.time_limit_minutes},
        link=f"/resources/beds/{row.bed_id}/clean",
        kind="alert",
        urgent=True,
        data={"bed": row.bed_id, "cleaning": row.pk},
    )
    return {"escalated": True}


# --- manual changes ---------------------------------------------------------------------------


@transaction.atomic
def bed_status_set(*, actor: Any, bed: Bed | int, status: str, reason: str = "") -> Bed:
    """A person changes a bed's status (reserve, out of service, back to available, start or
    finish a cleaning). Illegal transitions are refused with 409 naming both statuses."""
    pk = bed.pk if isinstance(bed, Bed) else int(bed)
    row = Bed.objects.select_for_update(of=("self",)).select_related("ward", "room").filter(pk=pk).first()
    if row is None or not has_perm(actor, PERM_VIEW, department=row.ward):
        raise BedError(_("There is no such bed."), status=404)
    if status not in BedStatus.values:
        raise BedError(
            _("Unknown status; use one of: %(choices)s."),
            {"choices": ", ".join(BedStatus.values)},
            field="status",
        )
    reason = (reason or "").strip()
    if len(reason) > 300:
        raise BedError(_("The reason is too long (at most 300 characters)."), field="reason")
    current = row.status
    if status == current:
        raise BedConflict(
            _("The bed is already %(status)s."), {"status": BedStatus(current).label}, field="status"
        )
    rule = MANUAL_TRANSITIONS.get(status)
    if rule is None or current not in rule[0]:
        raise BedConflict(
            _("A bed cannot go from %(from)s to %(to)s by hand."),
            {"from": BedStatus(current).label, "to": BedStatus(status).label},
            field="status",
        )
    _allowed, perm = rule
    if current == BedStatus.CLEANING and status == BedStatus.AVAILABLE:
        perm = PERM_CLEAN
    if not has_perm(actor, perm, department=row.ward):
        raise BedError(_("You may not make this change."), status=403)
    if status in (BedStatus.RESERVED, BedStatus.OUT_OF_SERVICE) and not reason:
        raise BedError(_("Give a reason."), field="reason")
    open_cleaning = BedCleaning.objects.filter(bed=row, status__in=OPEN_CLEANING).order_by("-id").first()
    if status == BedStatus.CLEANING:
        if open_cleaning is None:
            raise BedConflict(_("No cleaning is waiting for this bed."), field="status")
        cleaning_start(actor=actor, cleaning=open_cleaning)
    elif current == BedStatus.CLEANING and status == BedStatus.AVAILABLE and open_cleaning is not None:
        cleaning_finish(actor=actor, cleaning=open_cleaning)
    else:
        if status == BedStatus.OUT_OF_SERVICE and open_cleaning is not None:
            _cleaning_cancel(open_cleaning, reason=reason, at=_now())
        row.note = reason[:200] if status in (BedStatus.RESERVED, BedStatus.OUT_OF_SERVICE) else ""
        _record(row, status, actor=actor, source="manual", reason=reason)
        audit_record(
            actor=actor,
            action="resources.bed.status_changed",
            target=row,
            details={"from": current, "to": status, "reason": reason, "ward": row.ward.code},
        )
    row.refresh_from_db()
    return row


@transaction.atomic
def ward_settings_save(
    *, actor: Any, ward: Department, cleaning_minutes: int, housekeeping_area: Department | None = None
) -> WardSettings:
    if not has_perm(actor, PERM_SETTINGS, department=ward):
        raise PermissionDenied
    if not isinstance(cleaning_minutes, int) or not 5 <= cleaning_minutes <= 1440:
        raise BedError(_("The time limit must be 5 to 1440 minutes."), field="cleaning_minutes")
    row, _created = WardSettings.objects.get_or_create(ward=ward)
    before = {"cleaning_minutes": row.cleaning_minutes, "housekeeping_area": row.housekeeping_area_id}
    row.cleaning_minutes = cleaning_minutes
    row.housekeeping_area = housekeeping_area
    row.save()
    audit_record(
        actor=actor,
        action="resources.ward_settings.saved",
        target=row,
        details={
            "ward": ward.code,
            "cleaning_minutes": cleaning_minutes,
            "housekeeping_area": housekeeping_area.code if housekeeping_area else None,
            "before": before,
        },
    )
    return row


# --- installing the cleaning process ------------------------------------------------------------

MODEL_PATH = Path(__file__).resolve().parent / "processes" / "bed_cleaning.bpmn"


@transaction.atomic
def cleaning_process_install(*, actor: Any, force: bool = False) -> bool:
    """Deploy ``processes/bed_cleaning.bpmn`` as process ``bed_cleaning`` unless it is deployed
    (``force``: deploy a new version anyway). Returns whether it deployed."""
    if not force and _process_deployed():
        return False
    definition_deploy(
        actor=actor, xml=MODEL_PATH.read_text(encoding="utf-8"), key=PROCESS_KEY, category=str(_("Beds"))
    )
    return True
