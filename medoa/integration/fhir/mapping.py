"""FHIR R4 resources → the neutral clinical facts (``medoa.core.clinical.facts``).

The functions here read validated resource JSON (dicts that passed the R4B models) and a
``Resolver`` that finds what a reference points to (the same Bundle first, then the resources this
system sent before). They write nothing; ``services`` hands their facts to the clinical services.

Encounter → ``EncounterFact.kind`` (``encounter_kind``), given the encounter's previous state as
MedOA last saw it (``None``: never seen):

=========================  ===========================  ==========================================
status now                 before                       kind
=========================  ===========================  ==========================================
cancelled, entered-in-error  anything but cancelled     admission_cancelled
cancelled, entered-in-error  cancelled                  — (nothing new)
finished                   not finished                 discharged
finished                   finished                     updated
in-progress, onleave       finished                     discharge_cancelled
in-progress, onleave       never seen, cancelled,       admitted (inpatient class), else registered
                           planned/arrived/triaged, or
                           a non-inpatient class → an
                           inpatient one
in-progress, onleave       in-progress/onleave, other   transferred when the ward, room or bed
                           ward/room/bed                differs, else updated
planned, arrived, triaged  never seen                   registered
planned, arrived, triaged  seen                         updated
=========================  ===========================  ==========================================

The location is the last ``Encounter.location`` entry whose status is ``active`` (else the last
without a status, else — for a finished encounter — the last ``completed`` one); ``planned`` and
``reserved`` entries are never the current place. The referenced Location and its ``partOf``
chain give the bed (physicalType ``bd``), room (``ro``) and ward (``wa``, else the nearest ``lvl``,
``wi`` or ``area``). A Location's code is its first identifier value that is not a URI, else its
name, else its logical id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from medoa.core.clinical.facts import EncounterFact, ObservationFact, PatientFacts, ResultFact

Resource = Mapping[str, Any]
Resolver = Callable[[str], Resource | None]

INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "PRENC"})
OUTPATIENT_CLASSES = frozenset({"AMB", "HH", "VR"})
EMERGENCY_CLASSES = frozenset({"EMER"})
ENCOUNTER_STATUSES = frozenset(
    {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
OBSERVATION_STATUSES = frozenset(
    {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
)
# FHIR Observation.status → the OBX-11 letter the HL7 side stores.
OBSERVATION_STATUS_LETTER = {
    "registered": "I",
    "preliminary": "P",
    "final": "F",
    "amended": "C",
    "corrected": "C",
    "cancelled": "X",
    "entered-in-error": "W",
    "unknown": "",
}
GENDER = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
WARD_TYPES = ("wa",)
WARD_FALLBACK_TYPES = ("lvl", "wi", "area")
_URI = re.compile(r"^(urn:|https?:)", re.IGNORECASE)


class MappingProblem(ValueError):
    """A resource MedOA cannot turn into a fact: ``expression`` names the element (FHIRPath)."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


@dataclass(frozen=True)
class EncounterState:
    """What MedOA keeps of an encounter between two versions of it."""

    status: str
    encounter_class: str
    ward: str
    room: str
    bed: str

    def as_json(self) -> dict[str, str]:
        return {
            "status": self.status,
            "class": self.encounter_class,
            "ward": self.ward,
            "room": self.room,
            "bed": self.bed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EncounterState | None:
        if not data or "status" not in data:
            return None
        return cls(
            status=str(data.get("status", "")),
            encounter_class=str(data.get("class", "")),
            ward=str(data.get("ward", "")),
            room=str(data.get("room", "")),
            bed=str(data.get("bed", "")),
        )


# --- small readers ------------------------------------------------------------------------------


def reference_key(reference: str) -> str:
    """``Patient/123`` from ``Patient/123``, ``https://x/fhir/Patient/123/_history/2`` …;
    ``urn:uuid:…`` as is."""
    ref = reference.strip()
    if ref.startswith("urn:"):
        return ref
    parts = [p for p in ref.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def _codes(concept: Mapping[str, Any] | None) -> list[str]:
    if not concept:
        return []
    return [str(c["code"]) for c in concept.get("coding") or () if c.get("code")]


def _display(concept: Mapping[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or ():
        if coding.get("display"):
            return str(coding["display"])
    codes = _codes(concept)
    return codes[0] if codes else ""


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value)
    parsed = parse_datetime(text)
    if parsed is not None:
        return parsed
    day = parse_date(text[:10]) if len(text) >= 10 else None
    return datetime(day.year, day.month, day.day) if day else None


def _date(value: Any) -> date | None:
    if not value:
        return None
    text = str(value)
    if len(text) == 4:  # a year only
        return None
    return parse_date(text[:10])


def identifier_code(resource: Resource) -> str:
    """The code MedOA knows a resource by: its first identifier value that is not a URI, else its
    name, else its logical id."""
    for ident in resource.get("identifier") or ():
        value = str(ident.get("value") or "").strip()
        if value and not _URI.match(value):
            return value[:100]
    name = resource.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:100]
    return str(resource.get("id") or "")[:100]


def patient_identifier(resource: Resource) -> str:
    """A Patient's MRN: the first identifier typed ``MR``, else ``official``, else the first."""
    idents = [i for i in resource.get("identifier") or () if i.get("value")]
    for ident in idents:
        if "MR" in _codes(ident.get("type")):
            return str(ident["value"])[:100]
    for ident in idents:
        if ident.get("use") == "official":
            return str(ident["value"])[:100]
    if idents:
        return str(idents[0]["value"])[:100]
    return str(resource.get("id") or "")[:100]


def patient_facts(resource: Resource) -> PatientFacts:
    names = resource.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    name = ""
    if chosen:
        if chosen.get("text"):
            name = str(chosen["text"])
        else:
            family = str(chosen.get("family") or "")
            given = " ".join(str(g) for g in chosen.get("given") or ())
            name = f"{family}^{given}" if family and given else family or given
    return PatientFacts(
        identifier=patient_identifier(resource),
        name=name,
        sex=GENDER.get(str(resource.get("gender") or ""), ""),
        birth_date=_date(resource.get("birthDate")),
    )


def _patient_from_reference(
    ref: Mapping[str, Any] | None, resolve: Resolver, expression: str
) -> PatientFacts:
    if not ref:
        raise MappingProblem(f"{expression} is required: MedOA files every fact under a patient.", expression)
    if ref.get("reference"):
        target = resolve(str(ref["reference"]))
        if target is not None:
            if target.get("resourceType") != "Patient":
                raise MappingProblem(f"{expression} must refer to a Patient.", expression)
            return patient_facts(target)
        key = reference_key(str(ref["reference"]))
        if not key.startswith("urn:") and "/" in key and not key.startswith("Patient/"):
            raise MappingProblem(f"{expression} must refer to a Patient.", expression)
        if not key.startswith("urn:"):
            return PatientFacts(identifier=key.split("/")[-1][:100])
    ident = ref.get("identifier") or {}
    if ident.get("value"):
        return PatientFacts(identifier=str(ident["value"])[:100])
    raise MappingProblem(
        f"{expression} names no patient MedOA can identify (send the Patient first, or in the same Bundle).",
        expression,
    )


def encounter_class(resource: Resource) -> str:
    cls = resource.get("class") or {}
    code = str(cls.get("code") or "").upper()
    if code in INPATIENT_CLASSES:
        return "inpatient"
    if code in OUTPATIENT_CLASSES:
        return "outpatient"
    if code in EMERGENCY_CLASSES:
        return "emergency"
    return "other" if code else ""


def visit_number(resource: Resource) -> str:
    """An Encounter's visit number: its identifier typed ``VN``, else the first, else its id."""
    idents = [i for i in resource.get("identifier") or () if i.get("value")]
    for ident in idents:
        if "VN" in _codes(ident.get("type")):
            return str(ident["value"])[:100]
    if idents:
        return str(idents[0]["value"])[:100]
    return str(resource.get("id") or "")[:100]


def _physical_type(location: Resource) -> str:
    codes = _codes(location.get("physicalType"))
    return codes[0] if codes else ""


@dataclass(frozen=True)
class Place:
    ward: str = ""
    room: str = ""
    bed: str = ""


def place_of(location_ref: Mapping[str, Any] | None, resolve: Resolver) -> Place:
    """Bed, room and ward codes from a Location reference and the Location's ``partOf`` chain."""
    if not location_ref:
        return Place()
    reference = str(location_ref.get("reference") or "")
    location = resolve(reference) if reference else None
    if location is None:
        ident = location_ref.get("identifier") or {}
        code = str(ident.get("value") or "") or (reference_key(reference).split("/")[-1] if reference else "")
        return Place(ward=code[:100])
    bed = room = ward = fallback = ""
    seen: set[str] = set()
    current: Resource | None = location
    while current is not None and len(seen) < 12:
        seen.add(str(current.get("id") or id(current)))
        kind = _physical_type(current)
        code = identifier_code(current)
        if kind == "bd" and not bed:
            bed = code
        elif kind == "ro" and not room:
            room = code
        elif kind in WARD_TYPES and not ward:
            ward = code
            break
        elif kind in WARD_FALLBACK_TYPES and not fallback:
            fallback = code
        elif kind not in ("bd", "ro") and not kind and not fallback and not (bed or room):
            fallback = code  # a location with no physical type, referenced directly: the ward
        parent = (current.get("partOf") or {}).get("reference")
        nxt = resolve(str(parent)) if parent else None
        if nxt is not None and str(nxt.get("id") or id(nxt)) in seen:
            break
        current = nxt
    return Place(ward=ward or fallback, room=room, bed=bed)


def current_location(resource: Resource) -> tuple[Mapping[str, Any] | None, int | None]:
    """The ``location`` entry naming where the patient is now, and its index."""
    entries = list(resource.get("location") or ())
    for wanted in ("active", None):
        for index in range(len(entries) - 1, -1, -1):
            if entries[index].get("status") == wanted:
                return entries[index].get("location"), index
    if resource.get("status") == "finished":
        for index in range(len(entries) - 1, -1, -1):
            if entries[index].get("status") == "completed":
                return entries[index].get("location"), index
    return None, None


def prior_location(resource: Resource, current_index: int | None) -> Mapping[str, Any] | None:
    """The last ``completed`` location before the current one (where a transfer came from)."""
    entries = list(resource.get("location") or ())
    stop = current_index if current_index is not None else len(entries)
    for index in range(stop - 1, -1, -1):
        if entries[index].get("status") == "completed":
            return entries[index].get("location")
    return None


def _practitioner_code(ref: Mapping[str, Any] | None, resolve: Resolver) -> str:
    if not ref:
        return ""
    if ref.get("reference"):
        target = resolve(str(ref["reference"]))
        if target is not None and target.get("resourceType") == "Practitioner":
            return identifier_code(target)
        if target is None:
            key = reference_key(str(ref["reference"]))
            if key.startswith("Practitioner/"):
                return key.split("/")[-1][:100]
    ident = ref.get("identifier") or {}
    return str(ident.get("value") or "")[:100]


def attending_doctor(resource: Resource, resolve: Resolver) -> str:
    """The participant typed ``ATND`` (attender), else the first untyped one."""
    participants = list(resource.get("participant") or ())
    for p in participants:
        if any("ATND" in _codes(t) for t in p.get("type") or ()):
            return _practitioner_code(p.get("individual"), resolve)
    for p in participants:
        if not p.get("type"):
            return _practitioner_code(p.get("individual"), resolve)
    return ""


def department_code(resource: Resource, resolve: Resolver) -> str:
    ref = resource.get("serviceProvider")
    if not ref:
        return ""
    target = resolve(str(ref["reference"])) if ref.get("reference") else None
    if target is not None:
        return identifier_code(target)
    ident = ref.get("identifier") or {}
    return str(ident.get("value") or "")[:100]


def encounter_kind(*, status: str, klass: str, place: Place, before: EncounterState | None) -> str | None:
    """The kind of fact a new version of an encounter is (the table in the module's doc);
    ``None`` when it says nothing new."""
    inpatient = klass == "inpatient"
    if status in ("cancelled", "entered-in-error"):
        if before is not None and before.status in ("cancelled", "entered-in-error"):
            return None
        return "admission_cancelled"
    if status == "finished":
        if before is not None and before.status == "finished":
            return "updated"
        return "discharged"
    if status in ("in-progress", "onleave"):
        if before is not None and before.status == "finished":
            return "discharge_cancelled"
        if (
            before is None
            or before.status in ("cancelled", "entered-in-error", "planned", "arrived", "triaged")
            or (inpatient and before.encounter_class != "inpatient")
        ):
            return "admitted" if inpatient else "registered"
        if (place.ward, place.room, place.bed) != (before.ward, before.room, before.bed) and (
            place.ward or place.bed
        ):
            return "transferred"
        return "updated"
    if status in ("planned", "arrived", "triaged"):
        return "registered" if before is None else "updated"
    return "updated"


def encounter_fact(
    resource: Resource,
    resolve: Resolver,
    *,
    before: EncounterState | None,
    source: str,
    facility: str,
) -> tuple[EncounterFact | None, EncounterState]:
    """The fact an Encounter states (``None`` when nothing is new) and the state to keep."""
    status = str(resource.get("status") or "")
    if status not in ENCOUNTER_STATUSES:
        raise MappingProblem(
            f"Encounter.status {status!r} is not an R4 encounter status.", "Encounter.status"
        )
    patient = _patient_from_reference(resource.get("subject"), resolve, "Encounter.subject")
    klass = encounter_class(resource)
    loc_ref, loc_index = current_location(resource)
    place = place_of(loc_ref, resolve)
    state = EncounterState(
        status=status, encounter_class=klass, ward=place.ward, room=place.room, bed=place.bed
    )
    kind = encounter_kind(status=status, klass=klass, place=place, before=before)
    if kind is None:
        return None, state
    prior = Place()
    if kind == "transferred" and before is not None:
        prior = Place(ward=before.ward, room=before.room, bed=before.bed)
    elif kind == "transferred":
        prior = place_of(prior_location(resource, loc_index), resolve)
    period = resource.get("period") or {}
    if kind == "discharged":
        occurred = _datetime(period.get("end")) or _datetime(period.get("start"))
    elif kind in ("admitted", "registered"):
        occurred = _datetime(period.get("start"))
    else:
        occurred = None
    meta = resource.get("meta") or {}
    occurred = occurred or _datetime(meta.get("lastUpdated"))
    fact = EncounterFact(
        kind=kind,  # type: ignore[arg-type]
        patient=patient,
        visit_number=visit_number(resource),
        department_code=department_code(resource, resolve),
        ward_code=place.ward,
        room_code=place.room,
        bed_code=place.bed,
        attending_doctor=attending_doctor(resource, resolve),
        prior_ward_code=prior.ward,
        prior_room_code=prior.room,
        prior_bed_code=prior.bed,
        occurred_at=occurred,
        source=source,
        facility=facility,
        encounter_class=klass,
    )
    return fact, state


# --- Observation ----------------------------------------------------------------------------------


def _quantity_text(q: Mapping[str, Any]) -> tuple[str, str]:
    value = q.get("value")
    text = "" if value is None else str(value)
    if q.get("comparator"):
        text = f"{q['comparator']}{text}"
    return text, str(q.get("unit") or q.get("code") or "")


def observation_value(resource: Resource) -> tuple[str, str, str]:
    """(value as text, unit, HL7 value type) of an Observation's ``value[x]``."""
    if "valueQuantity" in resource:
        value, unit = _quantity_text(resource["valueQuantity"])
        return value, unit, "NM"
    if "valueString" in resource:
        return str(resource["valueString"]), "", "ST"
    if "valueCodeableConcept" in resource:
        return _display(resource["valueCodeableConcept"]), "", "CE"
    if "valueBoolean" in resource:
        return "true" if resource["valueBoolean"] else "false", "", "ST"
    if "valueInteger" in resource:
        return str(resource["valueInteger"]), "", "NM"
    for key, kind in (("valueDateTime", "DTM"), ("valueTime", "TM"), ("valuePeriod", "ST")):
        if key in resource:
            return str(resource[key]), "", kind
    if "valueRange" in resource:
        low = (resource["valueRange"].get("low") or {}).get("value")
        high = (resource["valueRange"].get("high") or {}).get("value")
        return f"{'' if low is None else low}-{'' if high is None else high}", "", "ST"
    if "valueRatio" in resource:
        num = (resource["valueRatio"].get("numerator") or {}).get("value")
        den = (resource["valueRatio"].get("denominator") or {}).get("value")
        return f"{num}:{den}", "", "ST"
    return "", "", ""


def reference_range(resource: Resource) -> str:
    for rng in resource.get("referenceRange") or ():
        if rng.get("text"):
            return str(rng["text"])[:100]
        low = (rng.get("low") or {}).get("value")
        high = (rng.get("high") or {}).get("value")
        if low is not None or high is not None:
            return f"{'' if low is None else low}-{'' if high is None else high}"[:100]
    return ""


def observation_flags(resource: Resource) -> list[str]:
    """``Observation.interpretation`` codes (v3-ObservationInterpretation: H, L, HH, LL, A, AA …)."""
    flags: list[str] = []
    for concept in resource.get("interpretation") or ():
        for code in _codes(concept):
            if code not in flags:
                flags.append(code)
    return flags


def result_fact(resource: Resource, resolve: Resolver, *, source: str, facility: str) -> ResultFact:
    """One Observation as one result with one observation (with its ``component``s as further
    observations)."""
    status = str(resource.get("status") or "")
    if status not in OBSERVATION_STATUSES:
        raise MappingProblem(
            f"Observation.status {status!r} is not an R4 observation status.", "Observation.status"
        )
    patient = _patient_from_reference(resource.get("subject"), resolve, "Observation.subject")
    codes = _codes(resource.get("code"))
    code = codes[0] if codes else ""
    if not code:
        raise MappingProblem("Observation.code needs a coding with a code.", "Observation.code.coding")
    observed_at = (
        _datetime(resource.get("effectiveDateTime"))
        or _datetime((resource.get("effectivePeriod") or {}).get("start"))
        or _datetime(resource.get("effectiveInstant"))
        or _datetime(resource.get("issued"))
    )
    value, unit, value_type = observation_value(resource)
    letter = OBSERVATION_STATUS_LETTER.get(status, "")
    observations = [
        ObservationFact(
            code=code[:100],
            name=_display(resource.get("code"))[:200],
            value=value,
            unit=unit[:60],
            reference_range=reference_range(resource),
            flags=tuple(observation_flags(resource)),
            status=letter,
            observed_at=observed_at,
            value_type=value_type,
        )
    ]
    for component in resource.get("component") or ():
        c_codes = _codes(component.get("code"))
        if not c_codes:
            continue
        c_value, c_unit, c_type = observation_value(component)
        observations.append(
            ObservationFact(
                code=c_codes[0][:100],
                name=_display(component.get("code"))[:200],
                value=c_value,
                unit=c_unit[:60],
                reference_range=reference_range(component),
                flags=tuple(observation_flags(component)),
                status=letter,
                observed_at=observed_at,
                value_type=c_type,
            )
        )
    visit = ""
    enc_ref = resource.get("encounter")
    if enc_ref and enc_ref.get("reference"):
        encounter = resolve(str(enc_ref["reference"]))
        if encounter is not None:
            visit = visit_number(encounter)
        else:
            visit = reference_key(str(enc_ref["reference"])).split("/")[-1][:100]
    ordering = ""
    for performer in resource.get("performer") or ():
        ordering = (
            _practitioner_code(performer, resolve)
            if reference_key(str(performer.get("reference") or "")).startswith("Practitioner/")
            else ""
        )
        if ordering:
            break
    return ResultFact(
        patient=patient,
        visit_number=visit,
        observations=tuple(observations),
        ordering_doctor=ordering,
        occurred_at=_datetime(resource.get("issued")) or observed_at,
        source=source,
        facility=facility,
        order_code=code[:100],
        order_name=_display(resource.get("code"))[:200],
        filler_number=str(resource.get("id") or "")[:100],
        result_status=letter,
    )
