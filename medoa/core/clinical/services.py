"""Writing clinical facts: patients, encounters (with their movements), results and observations,
and the events the modules react to — always in the caller's transaction.

``apply_encounter`` and ``apply_result`` are called by integration (HL7 processing, FHIR) with the
neutral facts of :mod:`medoa.core.clinical.facts`; a batch processor applies many facts through a
:class:`ClinicalBatch` instead, whose rows are written in bulk and whose events are published
together at ``flush()`` (same rules, same rows, same payloads). They raise :class:`UnmappedCode` when a
department or ward code maps to nothing (the caller parks the message as unmapped),
:class:`ClinicalFactInvalid` for a bad fact and :class:`ClinicalFactPending` when the fact refers to
something not known yet (a cancel before what it cancels: the caller retries it later).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.crypto import blind_index
from medoa.core.events.models import Event
from medoa.core.events.services import publish, publish_many
from medoa.core.org.models import Department

from .choices import CodeKind, EncounterClass, EncounterStatus
from .errors import ClinicalFactInvalid, ClinicalFactPending, UnmappedCode
from .facts import ENCOUNTER_KINDS, EncounterFact, PatientFacts, ResultFact
from .mapping import CodeResolver
from .models import CodeMapping, Encounter, EncounterMovement, Observation, Patient, Result
from .models import UnmappedCode as UnmappedCodeRow

__all__ = [
    "ClinicalBatch",
    "ClinicalFactInvalid",
    "ClinicalFactPending",
    "UnmappedCode",
    "apply_encounter",
    "apply_result",
    "code_mapping_delete",
    "code_mapping_save",
    "critical_flags_default",
    "unmapped_code_note",
]

PATIENT_NAME_INDEX = "clinical.patient.name"
PERM_MAPPING = "clinical.code_mapping.manage"
ALWAYS_CRITICAL = frozenset({"HH", "LL", "AA"})

CLASS_CODES = {
    "I": EncounterClass.INPATIENT,
    "O": EncounterClass.OUTPATIENT,
    "E": EncounterClass.EMERGENCY,
    "inpatient": EncounterClass.INPATIENT,
    "outpatient": EncounterClass.OUTPATIENT,
    "emergency": EncounterClass.EMERGENCY,
    "IMP": EncounterClass.INPATIENT,
    "AMB": EncounterClass.OUTPATIENT,
    "EMER": EncounterClass.EMERGENCY,
}


def critical_flags_default() -> set[str]:
    """HH, LL, AA plus ``settings.MEDOA_HL7_CRITICAL_FLAGS`` (comma-separated, default ``PL,PH``)."""
    local = getattr(settings, "MEDOA_HL7_CRITICAL_FLAGS", "PL,PH")
    if isinstance(local, str):
        local = local.split(",")
    return set(ALWAYS_CRITICAL) | {f.strip().upper() for f in local if f and f.strip()}


# -- helpers -----------------------------------------------------------------------------------


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F") and ch.isalpha()


def initials_of(name: str) -> str:
    """Initials for shared screens: ``DOE^JOHN`` → ``J.D.``; ``张^三`` or ``张三`` → ``张*``."""
    name = (name or "").strip()
    if not name:
        return ""
    if "^" in name:
        parts = [p.strip() for p in name.split("^")]
        family, given = parts[0], (parts[1] if len(parts) > 1 else "")
    else:
        words = name.split()
        if len(words) >= 2:
            given, family = words[0], words[-1]
        else:
            family, given = name, ""
    first = family[:1] or given[:1]
    if first and _is_cjk(first):
        return f"{first}*"
    letters = [w[:1].upper() for w in (given, family) if w]
    return "".join(f"{c}." for c in letters)[:16]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _authority(patient: PatientFacts, facility: str) -> str:
    return (patient.assigning_authority or facility or "*").strip()[:180]


def _check_patient(patient: PatientFacts) -> None:
    if not isinstance(patient, PatientFacts) or not (patient.identifier or "").strip():
        raise ClinicalFactInvalid(_("The patient has no identifier."), field="patient.identifier")
    if len(patient.identifier) > 100:
        raise ClinicalFactInvalid(
            _("The patient identifier is longer than 100 characters."), field="patient.identifier"
        )


class _PendingId:
    """A payload's id of a row the batch writes at ``flush()`` (replaced by the id then)."""

    __slots__ = ("row",)

    def __init__(self, row: Any) -> None:
        self.row = row


def _pk(row: Any) -> Any:
    """``row``'s id, or a placeholder for it while the row waits in a batch."""
    return row.pk if row.pk is not None else _PendingId(row)


def _fill_ids(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the batch's placeholders replaced by the ids the rows got."""

    def fill(value: Any) -> Any:
        if isinstance(value, _PendingId):
            return value.row.pk
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return {k: fill(v) for k, v in payload.items()}


E = TypeVar("E")


def _publisher(resolver: CodeResolver) -> Callable[[str, dict[str, Any]], Event]:
    """Publish at once (writing first what the resolver holds back, so that every id is known)."""

    def emit(type: str, payload: dict[str, Any]) -> Event:
        if resolver.pending():
            resolver.flush()
        return publish(type, _fill_ids(payload))

    return emit


def _patient_upsert(
    facts: PatientFacts,
    authority: str,
    now: datetime,
    *,
    existing: Patient | None = None,
    safe: bool = True,
    resolver: CodeResolver,
) -> Patient:
    identifier = facts.identifier.strip()
    patient = existing
    sex = (facts.sex or "").strip()[:1].upper()
    if patient is None:
        fields = {
            "name": facts.name or "",
            "name_index": blind_index(PATIENT_NAME_INDEX, facts.name or ""),
            "initials": initials_of(facts.name),
            "sex": sex,
            "birth_date": facts.birth_date,
            "created_at": now,
            "updated_at": now,
        }
        if resolver.records:  # the batch writes it (a clash rolls the whole batch back)
            patient = Patient(authority=authority, identifier=identifier, **fields)
            resolver.save_patient(patient)
            return patient
        if not safe:  # the caller rolls everything back on a clash
            return Patient.objects.create(authority=authority, identifier=identifier, **fields)
        try:
            with transaction.atomic():
                return Patient.objects.create(authority=authority, identifier=identifier, **fields)
        except IntegrityError:  # a concurrent writer created it
            patient = Patient.objects.get(authority=authority, identifier=identifier)
    changed: list[str] = []
    if facts.name and facts.name != patient.name:
        patient.name = facts.name
        patient.name_index = blind_index(PATIENT_NAME_INDEX, facts.name)
        patient.initials = initials_of(facts.name)
        changed += ["name", "name_index", "initials"]
    if sex and sex != patient.sex:
        patient.sex = sex
        changed.append("sex")
    if facts.birth_date and facts.birth_date != patient.birth_date:
        patient.birth_date = facts.birth_date
        changed.append("birth_date")
    if changed:
        patient.updated_at = now
        resolver.save_patient(patient, [*changed, "updated_at"])
    return patient


def _location(enc: Encounter) -> tuple[str, str, str, str]:
    return enc.department_code, enc.ward_code, enc.room_code, enc.bed_code


def _encounter_payload(
    enc: Encounter | None,
    patient: Patient,
    fact: EncounterFact,
    occurred: datetime,
    prior: tuple[str, str, str, str],
) -> dict[str, Any]:
    return {
        "patient_id": patient.identifier,
        "patient_authority": patient.authority,
        "patient_initials": patient.initials,
        "patient_sex": patient.sex,
        "encounter_id": _pk(enc) if enc else None,
        "visit_number": enc.visit_number if enc else fact.visit_number,
        "encounter_class": enc.encounter_class if enc else "",
        "status": enc.status if enc else "",
        "department": enc.department_code if enc else "",
        "ward": enc.ward_code if enc else "",
        "room": enc.room_code if enc else "",
        "bed": enc.bed_code if enc else "",
        "prior_department": prior[0],
        "prior_ward": prior[1],
        "prior_room": prior[2],
        "prior_bed": prior[3],
        "attending_doctor": enc.attending_doctor if enc else "",
        "admitted_at": _iso(enc.admitted_at) if enc else None,
        "discharged_at": _iso(enc.discharged_at) if enc else None,
        "occurred_at": occurred.isoformat(),
        "source": fact.source[:100],
        "facility": fact.facility,
    }


# -- encounters --------------------------------------------------------------------------------


def apply_encounter(
    fact: EncounterFact, *, resolver: CodeResolver | None = None, savepoint: bool = True
) -> list[Event]:
    """Apply one encounter fact and publish its ``clinical.patient.<kind>`` event.

    Runs in the caller's transaction. Every refusal (``UnmappedCode``, ``ClinicalFactInvalid``,
    ``ClinicalFactPending``) is raised before anything is written. ``savepoint=False`` skips the
    savepoint around the writes — only for a caller that rolls back its whole transaction should a
    database error occur.
    """
    resolver = resolver or CodeResolver()
    return _apply_encounter(fact, resolver, savepoint, _publisher(resolver))


def _apply_encounter(
    fact: EncounterFact, resolver: CodeResolver, savepoint: bool, emit: Callable[[str, dict[str, Any]], E]
) -> list[E]:
    if not isinstance(fact, EncounterFact) or fact.kind not in ENCOUNTER_KINDS:
        raise ClinicalFactInvalid(_("Unknown encounter fact kind."), field="kind")
    _check_patient(fact.patient)
    facility = fact.facility or ""
    department = resolver.department(fact.department_code, facility)
    ward = resolver.ward(fact.ward_code, facility)
    if not department and ward:
        department = resolver.department_of_ward(ward)
    bed = resolver.bed(fact.bed_code, facility)
    room = (fact.room_code or "").strip()[:100]
    doctor = resolver.doctor(fact.attending_doctor, facility)
    occurred = fact.occurred_at or timezone.now()
    if timezone.is_naive(occurred):
        occurred = timezone.make_aware(occurred)
    now = timezone.now()
    authority = _authority(fact.patient, facility)
    visit = (fact.visit_number or "").strip()[:100]
    patient = resolver.patient(authority, fact.patient.identifier.strip())
    enc = _target_encounter(fact.kind, patient, authority, visit, resolver)
    with transaction.atomic(savepoint=savepoint):
        patient = _patient_upsert(
            fact.patient, authority, now, existing=patient, safe=savepoint, resolver=resolver
        )
        resolver.remember_patient(patient)
        payload = _apply_kind(
            fact, patient, enc, authority, visit, department, ward, room, bed, doctor, occurred, now, resolver
        )
        event = emit(f"clinical.patient.{fact.kind}", payload)
    return [event]


OPEN_STATUSES = (EncounterStatus.ADMITTED, EncounterStatus.REGISTERED)


def _target_encounter(
    kind: str, patient: Patient | None, authority: str, visit: str, resolver: CodeResolver
) -> Encounter | None:
    """The encounter the fact is about (read only); refusals are raised here, before any write."""
    enc: Encounter | None
    if not visit and patient is not None and resolver.pending():
        resolver.flush()  # the query below must see the batch's rows: write them now
    if visit:
        enc = resolver.encounter(authority, visit)
    elif patient is None or patient.pk is None:
        enc = None
    else:
        wanted = (EncounterStatus.DISCHARGED,) if kind == "discharge_cancelled" else OPEN_STATUSES
        enc = resolver.same_encounter(
            Encounter.objects.filter(patient=patient, status__in=wanted).order_by("-id").first()
        )
    if enc is not None and (patient is None or not _of_patient(enc, patient)):
        raise ClinicalFactInvalid(_("The visit number belongs to another patient."), field="visit_number")
    identifier = patient.identifier if patient else ""
    if kind == "admission_cancelled" and (
        enc is None or enc.status not in (*OPEN_STATUSES, EncounterStatus.CANCELLED)
    ):
        raise ClinicalFactPending(
            _("The admission to cancel is not known (yet): the message waits for it."), patient_id=identifier
        )
    if kind == "discharge_cancelled" and (enc is None or enc.status != EncounterStatus.DISCHARGED):
        raise ClinicalFactPending(
            _("The discharge to cancel is not known (yet): the message waits for it."), patient_id=identifier
        )
    return enc


def _of_patient(enc: Encounter, patient: Patient) -> bool:
    if enc.patient_id is None or patient.pk is None:  # held back in a batch: the same object
        return enc.patient_id is None and enc.patient is patient
    return bool(enc.patient_id == patient.pk)


def _apply_kind(
    fact: EncounterFact,
    patient: Patient,
    enc: Encounter | None,
    authority: str,
    visit: str,
    department: str,
    ward: str,
    room: str,
    bed: str,
    doctor: str,
    occurred: datetime,
    now: datetime,
    resolver: CodeResolver,
) -> dict[str, Any]:
    kind = fact.kind
    klass = CLASS_CODES.get((fact.encounter_class or "").strip(), "")
    located = bool(department or ward or room or bed)
    if kind == "admission_cancelled":
        assert enc is not None
        prior = _location(enc)
        if enc.status != EncounterStatus.CANCELLED:  # a repeated cancel only says so again
            enc.status = EncounterStatus.CANCELLED
            _save(enc, now, fact.source, resolver)
            _move(enc, "admission_cancelled", prior, prior, occurred, now, fact.source, resolver)
        return _encounter_payload(enc, patient, fact, occurred, prior)
    if kind == "discharge_cancelled":
        assert enc is not None
        prior = _location(enc)
        enc.status = EncounterStatus.ADMITTED
        enc.discharged_at = None
        if located:
            _set_location(enc, department, ward, room, bed)
        if doctor:
            enc.attending_doctor = doctor
        _save(enc, now, fact.source, resolver)
        _move(enc, "discharge_cancelled", prior, _location(enc), occurred, now, fact.source, resolver)
        return _encounter_payload(enc, patient, fact, occurred, prior)

    if kind == "updated" and enc is None:
        # demographics only: no encounter known for it
        return _encounter_payload(None, patient, fact, occurred, ("", "", "", ""))
    created = enc is None
    if enc is None:
        enc = Encounter(
            patient=patient,
            authority=authority,
            visit_number=visit,
            encounter_class=klass
            or (EncounterClass.OUTPATIENT if kind == "registered" else EncounterClass.INPATIENT),
            status=EncounterStatus.REGISTERED,
            created_at=now,
        )
    prior = ("", "", "", "") if created else _location(enc)
    if created and kind == "transferred":
        prior = (
            "",
            resolver.ward_or_empty(fact.prior_ward_code, fact.facility),
            (fact.prior_room_code or "")[:100],
            resolver.bed(fact.prior_bed_code, fact.facility),
        )
    if klass:
        enc.encounter_class = klass
    if located:
        _set_location(enc, department, ward, room, bed)
    if doctor:
        enc.attending_doctor = doctor
    if fact.attending_doctor:
        enc.attending_doctor_external = fact.attending_doctor[:100]
    if kind == "admitted":
        if enc.status != EncounterStatus.ADMITTED or enc.admitted_at is None:
            enc.admitted_at = occurred
        enc.status = EncounterStatus.ADMITTED
        enc.discharged_at = None
    elif kind == "transferred":
        if enc.status in (EncounterStatus.REGISTERED, EncounterStatus.CANCELLED):
            enc.status = EncounterStatus.ADMITTED
        if enc.admitted_at is None:
            enc.admitted_at = occurred
    elif kind == "discharged":
        enc.status = EncounterStatus.DISCHARGED
        enc.discharged_at = occurred
    elif kind == "registered" and (created or enc.status == EncounterStatus.CANCELLED):
        enc.status = EncounterStatus.REGISTERED
    # "updated": status unchanged
    _save(enc, now, fact.source, resolver, create=created)
    if created:
        resolver.remember_encounter(enc)
    _move(enc, kind, prior, _location(enc), occurred, now, fact.source, resolver)
    return _encounter_payload(enc, patient, fact, occurred, prior)


def _set_location(enc: Encounter, department: str, ward: str, room: str, bed: str) -> None:
    enc.department_code = department or enc.department_code
    if ward or bed or room:
        # a new location replaces the whole of the old one
        enc.ward_code = ward
        enc.room_code = room
        enc.bed_code = bed


def _save(
    enc: Encounter, now: datetime, source: str, resolver: CodeResolver, *, create: bool = False
) -> None:
    enc.updated_at = now
    enc.source = source[:100]
    resolver.save_encounter(enc, create=create)


def _move(
    enc: Encounter,
    kind: str,
    before: tuple[str, str, str, str],
    after: tuple[str, str, str, str],
    occurred: datetime,
    now: datetime,
    source: str,
    resolver: CodeResolver,
) -> None:
    resolver.add_movement(
        EncounterMovement(
            encounter=enc,
            kind=kind,
            from_department_code=before[0],
            from_ward_code=before[1],
            from_room_code=before[2],
            from_bed_code=before[3],
            department_code=after[0],
            ward_code=after[1],
            room_code=after[2],
            bed_code=after[3],
            occurred_at=occurred,
            recorded_at=now,
            source=source[:100],
        )
    )


# -- results -----------------------------------------------------------------------------------


def apply_result(
    fact: ResultFact,
    *,
    critical_flags: set[str] | frozenset[str] | None = None,
    resolver: CodeResolver | None = None,
    savepoint: bool = True,
) -> list[Event]:
    """Record a result and its observations; publish ``clinical.result.received`` and one
    ``clinical.critical_value.received`` per critical observation (a flag among
    ``critical_flags``, by default HH, LL, AA and the configured local ones)."""
    resolver = resolver or CodeResolver()
    return _apply_result(fact, critical_flags, resolver, savepoint, _publisher(resolver))


def _apply_result(
    fact: ResultFact,
    critical_flags: set[str] | frozenset[str] | None,
    resolver: CodeResolver,
    savepoint: bool,
    emit: Callable[[str, dict[str, Any]], E],
) -> list[E]:
    if not isinstance(fact, ResultFact):
        raise ClinicalFactInvalid(_("Not a result fact."), field="result")
    _check_patient(fact.patient)
    flags_critical = {
        f.upper() for f in (critical_flags if critical_flags is not None else critical_flags_default())
    }
    facility = fact.facility or ""
    department = resolver.department(fact.department_code, facility)
    ward = resolver.ward(fact.ward_code, facility)
    if not department and ward:
        department = resolver.department_of_ward(ward)
    bed = resolver.bed(fact.bed_code, facility)
    room = (fact.room_code or "")[:100]
    attending = resolver.doctor(fact.attending_doctor, facility)
    ordering = resolver.doctor(fact.ordering_doctor, facility)
    occurred = fact.occurred_at or timezone.now()
    if timezone.is_naive(occurred):
        occurred = timezone.make_aware(occurred)
    now = timezone.now()
    authority = _authority(fact.patient, facility)
    visit = (fact.visit_number or "").strip()[:100]
    for i, obs in enumerate(fact.observations):
        if not (obs.code or "").strip():
            raise ClinicalFactInvalid(_("An observation has no code."), field=f"observations.{i}.code")
    patient = resolver.patient(authority, fact.patient.identifier.strip())
    enc = resolver.encounter(authority, visit) if visit else None
    if enc is not None:
        department = enc.department_code or department
        if enc.ward_code or enc.bed_code:
            ward, room, bed = enc.ward_code, enc.room_code, enc.bed_code
        attending = enc.attending_doctor or attending
    with transaction.atomic(savepoint=savepoint):
        patient = _patient_upsert(
            fact.patient, authority, now, existing=patient, safe=savepoint, resolver=resolver
        )
        resolver.remember_patient(patient)
        observations = []
        critical_count = 0
        for i, obs in enumerate(fact.observations):
            flags = [f.strip().upper() for f in obs.flags if f and f.strip()]
            critical_flag = next((f for f in flags if f in flags_critical), "")
            critical_count += bool(critical_flag)
            observed = obs.observed_at
            if observed is not None and timezone.is_naive(observed):
                observed = timezone.make_aware(observed)
            observations.append(
                Observation(
                    seq=i + 1,
                    code=obs.code.strip()[:100],
                    name=(obs.name or "")[:200],
                    value=obs.value or "",
                    value_type=(obs.value_type or "")[:4],
                    unit=(obs.unit or "")[:60],
                    reference_range=(obs.reference_range or "")[:100],
                    flags=flags,
                    status=(obs.status or "")[:4],
                    observed_at=observed,
                    critical=bool(critical_flag),
                    critical_flag=critical_flag[:8],
                )
            )
        result = Result(
            patient=patient,
            encounter=enc,
            visit_number=visit,
            order_code=(fact.order_code or "")[:100],
            order_name=(fact.order_name or "")[:200],
            placer_number=(fact.placer_number or "")[:100],
            filler_number=(fact.filler_number or "")[:100],
            status=(fact.result_status or "")[:4],
            ordering_doctor=ordering,
            attending_doctor=attending,
            department_code=department,
            ward_code=ward,
            bed_code=bed,
            occurred_at=occurred,
            received_at=now,
            source=fact.source[:100],
            critical_count=critical_count,
        )
        resolver.add_result(result, observations)
        common = {
            "patient_id": patient.identifier,
            "patient_authority": patient.authority,
            "patient_initials": patient.initials,
            "result_id": _pk(result),
            "encounter_id": _pk(enc) if enc else None,
            "visit_number": visit,
            "department": department,
            "ward": ward,
            "room": room,
            "bed": bed,
            "attending_doctor": attending,
            "ordering_doctor": ordering,
            "order_code": result.order_code,
            "order_name": result.order_name,
            "occurred_at": occurred.isoformat(),
            "source": result.source,
            "facility": facility,
        }
        events = [
            emit(
                "clinical.result.received",
                {
                    **common,
                    "result_status": result.status,
                    "critical_count": critical_count,
                    "observations": [
                        {
                            "observation_id": _pk(o),
                            "code": o.code,
                            "name": o.name,
                            "value": o.value[:500],
                            "unit": o.unit,
                            "reference_range": o.reference_range,
                            "flags": o.flags,
                            "status": o.status,
                            "critical": o.critical,
                        }
                        for o in observations
                    ],
                },
            )
        ]
        for o in observations:
            if o.critical:
                events.append(
                    emit(
                        "clinical.critical_value.received",
                        {
                            **common,
                            "observation_id": _pk(o),
                            "test_code": o.code,
                            "test_name": o.name,
                            "value": o.value[:500],
                            "unit": o.unit,
                            "flag": o.critical_flag,
                            "flags": o.flags,
                            "reference_range": o.reference_range,
                            "observed_at": _iso(o.observed_at),
                        },
                    )
                )
    return events


# -- batches ------------------------------------------------------------------------------------


class ClinicalBatch:
    """Many facts applied with the rules of ``apply_encounter`` and ``apply_result``, their rows
    held back by the resolver and their events queued, then written together by ``flush()``: one
    insert per table for the new rows, one prepared update per table for the changed ones, and
    ``publish_many`` for the events (in the order the facts were applied) — a dozen statements for
    a batch instead of several per fact.

    For a caller that rolls back the whole batch should anything fail after a fact was applied
    (the HL7 processor redoes such a batch message by message): held-back rows and cached objects
    do not survive a rollback. A refusal (``UnmappedCode``, ``ClinicalFactInvalid``,
    ``ClinicalFactPending``) comes before the fact changes anything, as with the single calls.
    ``apply_*`` return the positions of their events among ``flush()``'s result."""

    def __init__(self, resolver: CodeResolver | None = None) -> None:
        self.resolver = resolver or CodeResolver()
        if not self.resolver.records:
            self.resolver.prefetch(identifiers=set(), visits=set())
        self._events: list[tuple[str, dict[str, Any]]] = []

    def _queue(self, type: str, payload: dict[str, Any]) -> int:
        self._events.append((type, payload))
        return len(self._events) - 1

    def apply_encounter(self, fact: EncounterFact) -> list[int]:
        return _apply_encounter(fact, self.resolver, False, self._queue)

    def apply_result(
        self, fact: ResultFact, *, critical_flags: set[str] | frozenset[str] | None = None
    ) -> list[int]:
        return _apply_result(fact, critical_flags, self.resolver, False, self._queue)

    def publish(self, type: str, payload: dict[str, Any]) -> int:
        """Queue another event of the batch (published with the others, in this place)."""
        return self._queue(type, payload)

    def flush(self) -> list[Event]:
        """Write the held-back rows and publish the queued events; returns the events."""
        self.resolver.flush()
        events = publish_many([(type, _fill_ids(payload)) for type, payload in self._events])
        self._events = []
        return events


# -- unmapped codes and code mappings ------------------------------------------------------------


def unmapped_code_note(exc: UnmappedCode, *, source: str = "") -> None:
    """Remember a code that mapped to nothing (for the mapping page's suggestions)."""
    now = timezone.now()
    row = UnmappedCodeRow.objects.filter(kind=exc.kind, facility=exc.facility, code=exc.code[:100]).first()
    if row is None:
        try:
            with transaction.atomic():
                UnmappedCodeRow.objects.create(
                    kind=exc.kind, facility=exc.facility[:180], code=exc.code[:100], last_source=source[:100]
                )
            return
        except IntegrityError:
            row = UnmappedCodeRow.objects.get(kind=exc.kind, facility=exc.facility, code=exc.code[:100])
    UnmappedCodeRow.objects.filter(pk=row.pk).update(
        last_seen=now, occurrences=row.occurrences + 1, last_source=source[:100]
    )


def _validate_mapping(kind: str, facility: str, external: str, internal: str) -> dict[str, str]:
    errors: list[tuple[str, Any]] = []
    if kind not in CodeKind.values:
        errors.append(("kind", _("Choose a kind of code.")))
    facility = (facility or "*").strip() or "*"
    external = (external or "").strip()
    internal = (internal or "").strip()
    if not external:
        errors.append(("external_code", _("Enter the sending system's code.")))
    if not internal:
        errors.append(("internal_code", _("Enter the MedOA code.")))
    elif (
        kind in (CodeKind.DEPARTMENT, CodeKind.WARD) and not Department.objects.filter(code=internal).exists()
    ):
        errors.append(("internal_code", _("No MedOA department has this code.")))
    if errors:
        raise ClinicalFactInvalid(errors[0][1], field=errors[0][0]) if len(errors) == 1 else _many(errors)
    return {
        "kind": kind,
        "facility": facility[:180],
        "external_code": external[:100],
        "internal_code": internal[:100],
    }


def _many(errors: list[tuple[str, Any]]) -> ClinicalFactInvalid:
    exc = ClinicalFactInvalid(errors[0][1], field=errors[0][0])
    exc.errors = errors
    return exc


@transaction.atomic
def code_mapping_save(
    *,
    actor: Any,
    kind: str,
    facility: str,
    external_code: str,
    internal_code: str,
    note: str = "",
    mapping: CodeMapping | None = None,
) -> CodeMapping:
    """Create (``mapping`` None) or change a code mapping (audited). The code stops being
    suggested as unmapped; the integration layer reprocesses the messages waiting for it."""
    if not has_perm(actor, PERM_MAPPING):
        raise PermissionDenied
    data = _validate_mapping(kind, facility, external_code, internal_code)
    clash = CodeMapping.objects.filter(
        kind=data["kind"], facility=data["facility"], external_code=data["external_code"]
    )
    if mapping is not None:
        clash = clash.exclude(pk=mapping.pk)
    if clash.exists():
        raise ClinicalFactInvalid(_("This code is already mapped for this facility."), field="external_code")
    before = None
    if mapping is None:
        mapping = CodeMapping(**data, note=note[:200], updated_by=actor)
    else:
        before = {
            "kind": mapping.kind,
            "facility": mapping.facility,
            "external_code": mapping.external_code,
            "internal_code": mapping.internal_code,
        }
        for k, v in data.items():
            setattr(mapping, k, v)
        mapping.note = note[:200]
        mapping.updated_by = actor
    mapping.save()
    unmapped = UnmappedCodeRow.objects.filter(kind=data["kind"], code=data["external_code"])
    if data["facility"] != "*":
        unmapped = unmapped.filter(facility=data["facility"])
    unmapped.delete()
    audit_record(
        actor=actor,
        action="clinical.code_mapping.saved",
        target=mapping,
        details={**data, "before": before},
    )
    return mapping


@transaction.atomic
def code_mapping_delete(*, actor: Any, mapping: CodeMapping) -> None:
    if not has_perm(actor, PERM_MAPPING):
        raise PermissionDenied
    details = {
        "kind": mapping.kind,
        "facility": mapping.facility,
        "external_code": mapping.external_code,
        "internal_code": mapping.internal_code,
    }
    pk = mapping.pk
    mapping.delete()
    audit_record(
        actor=actor,
        action="clinical.code_mapping.deleted",
        target=("clinical.codemapping", pk, str(details)),
        details=details,
    )
