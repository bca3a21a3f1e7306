"""The neutral form of what a clinical system tells MedOA — what HL7 v2 and FHIR both map to.

Integration code (``integration/hl7``, ``integration/fhir``) turns a message or resource into these
frozen dataclasses and hands them to :func:`medoa.core.clinical.services.apply_encounter` or
:func:`~medoa.core.clinical.services.apply_result`. Codes (department, ward, room, bed, doctor) are
the SENDER's codes: the clinical services map them to MedOA's through the code mapping tables
(:mod:`medoa.core.clinical.mapping`), per ``facility`` (the sending facility, e.g. MSH-4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

EncounterKind = Literal[
    "admitted",
    "transferred",
    "discharged",
    "registered",
    "updated",
    "admission_cancelled",
    "discharge_cancelled",
]
ENCOUNTER_KINDS: tuple[str, ...] = (
    "admitted",
    "transferred",
    "discharged",
    "registered",
    "updated",
    "admission_cancelled",
    "discharge_cancelled",
)


@dataclass(frozen=True)
class PatientFacts:
    """Who the patient is. ``identifier`` is the sender's patient id (PID-3.1, the MRN);
    ``assigning_authority`` (PID-3.4) scopes it — empty: the fact's ``facility`` does.
    ``name`` as sent (``FAMILY^GIVEN`` or ``张三``), ``sex`` ``M``/``F``/``O``/``U`` or empty."""

    identifier: str
    name: str = ""
    sex: str = ""
    birth_date: date | None = None
    assigning_authority: str = ""


@dataclass(frozen=True)
class EncounterFact:
    """Something happened to a patient's visit: admitted, transferred, discharged, registered
    (an outpatient or pre-admission registration), updated, or an admission/discharge cancelled.

    ``visit_number`` (PV1-19) names the encounter; ``prior_*`` (PV1-6 on a transfer) the location
    left. ``occurred_at``: when it happened (EVN-2/EVN-6, else the message time). ``source`` is
    ``"hl7:<message id>"`` or ``"fhir:<id>"``; ``facility`` the sending facility the codes
    belong to. ``encounter_class``: ``inpatient``/``outpatient``/``emergency``/… (PV1-2) or empty.
    """

    kind: EncounterKind
    patient: PatientFacts
    visit_number: str = ""
    department_code: str = ""
    ward_code: str = ""
    room_code: str = ""
    bed_code: str = ""
    attending_doctor: str = ""
    prior_ward_code: str = ""
    prior_bed_code: str = ""
    occurred_at: datetime | None = None
    source: str = ""
    facility: str = ""
    encounter_class: str = ""
    prior_room_code: str = ""


@dataclass(frozen=True)
class ObservationFact:
    """One observation (OBX): ``code``/``name`` (OBX-3), ``value`` as text (OBX-5), ``unit``
    (OBX-6), ``reference_range`` (OBX-7), ``flags`` (OBX-8, e.g. ``["HH"]``), ``status`` (OBX-11,
    ``F`` final, ``C`` corrected …), ``observed_at`` (OBX-14)."""

    code: str
    name: str = ""
    value: str = ""
    unit: str = ""
    reference_range: str = ""
    flags: tuple[str, ...] | list[str] = ()
    status: str = ""
    observed_at: datetime | None = None
    value_type: str = ""


@dataclass(frozen=True)
class ResultFact:
    """A result report (one ORU order group: OBR + its OBX) for a patient, maybe within a visit.

    ``department_code``/``ward_code``/``bed_code`` are the sender's (PV1-3 / PV1-10); when
    ``visit_number`` names a known encounter its location and attending doctor win for the events.
    ``order_code``/``order_name`` (OBR-4), ``filler_number`` (OBR-3), ``placer_number`` (OBR-2).
    """

    patient: PatientFacts
    visit_number: str = ""
    observations: tuple[ObservationFact, ...] | list[ObservationFact] = field(default_factory=tuple)
    ordering_doctor: str = ""
    attending_doctor: str = ""
    department_code: str = ""
    ward_code: str = ""
    bed_code: str = ""
    occurred_at: datetime | None = None
    source: str = ""
    facility: str = ""
    room_code: str = ""
    order_code: str = ""
    order_name: str = ""
    placer_number: str = ""
    filler_number: str = ""
    result_status: str = ""
