"""From a parsed HL7 v2 message to the neutral clinical facts (``medoa.core.clinical.facts``).

The tables in docs/integration.md ("Mapping") say which field goes where; in short:

- ``ADT^A01/A02/A03/A04/A08/A11/A13`` → one :class:`EncounterFact` (PID patient, PV1 visit).
- ``ORU^R01`` → one :class:`ResultFact` per order (OBR and the OBX after it; OBX before any OBR
  form one order without a test code).
- ``MFN^M02`` → one ``hr.employee.hired`` payload per STF (with PRA: a doctor).
- anything else → nothing to apply (:class:`Mapped` with ``ignored`` set).

Nothing here touches the database. Field access never raises on a short segment: a field that is
not there reads as ``""``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import hl7
from django.utils import timezone
from hl7.util import unescape

from medoa.core.clinical.facts import (
    EncounterFact,
    ObservationFact,
    PatientFacts,
    ResultFact,
)

logger = logging.getLogger("medoa.hl7")

ADT_KINDS = {
    "A01": "admitted",
    "A02": "transferred",
    "A03": "discharged",
    "A04": "registered",
    "A08": "updated",
    "A11": "admission_cancelled",
    "A13": "discharge_cancelled",
}
_DIGITS = re.compile(r"\d{8}")


class MappingError(ValueError):
    """The message cannot be mapped (a required field is missing or malformed)."""


@dataclass
class Mapped:
    message_type: str
    trigger: str
    facility: str
    encounters: list[EncounterFact] = field(default_factory=list)
    results: list[ResultFact] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    ignored: str = ""  # why nothing is applied


def parse(text: str) -> hl7.Message:
    """``hl7.parse`` with the separators the message declares; ``MappingError`` when it is not HL7."""
    try:
        message = hl7.parse(text)
    except Exception as exc:  # ParseException, IndexError on a truncated MSH …
        raise MappingError(f"not parseable as HL7 v2: {exc}") from exc
    if not isinstance(message, hl7.Message) or not len(message) or str(message[0][0]) != "MSH":
        raise MappingError("not parseable as HL7 v2: no MSH segment first")
    return message


def segments(message: hl7.Message, name: str) -> list[hl7.Segment]:
    return [s for s in message if len(s) and str(s[0]) == name]


def first(message: hl7.Message, name: str) -> hl7.Segment | None:
    for s in message:
        if len(s) and str(s[0]) == name:
            return s
    return None


def get(seg: hl7.Segment | None, f: int, c: int = 1, s: int = 1, r: int = 1) -> str:
    """``SEG-f.c.s`` of repetition ``r`` (unescaped, stripped), ``""`` when absent.

    The same answer as python-hl7's ``Segment.extract_field`` (a shorter path reads the first child,
    a missing part reads ``""``), walked directly: it is the hot path of the processor."""
    if seg is None or f >= len(seg):
        return ""
    fld = list.__getitem__(seg, f)
    if f <= 2 and str(list.__getitem__(seg, 0)) in ("MSH", "BHS", "FHS"):
        return str(fld) if c == 1 and s == 1 and r == 1 else ""
    if not isinstance(fld, list):
        value: Any = fld if c == 1 and s == 1 and r == 1 else ""
    elif r > len(fld):
        return ""
    else:
        rep = list.__getitem__(fld, r - 1)
        if not isinstance(rep, hl7.Repetition):
            value = rep if c == 1 and s == 1 else ""
        elif c > len(rep):
            return ""
        else:
            comp = list.__getitem__(rep, c - 1)
            if not isinstance(comp, hl7.Component):
                value = comp if s == 1 else ""
            else:
                value = list.__getitem__(comp, s - 1) if s <= len(comp) else ""
                while isinstance(value, list):  # deeper than asked: its first leaf
                    value = list.__getitem__(value, 0) if len(value) else ""
    while isinstance(value, list):
        value = list.__getitem__(value, 0) if len(value) else ""
    text = str(value)
    if seg.esc and seg.esc in text:
        try:
            text = str(unescape(seg, text))
        except (IndexError, KeyError, ValueError, TypeError):
            logger.debug("HL7: could not unescape %r", text[:80])
    return text.strip()


def repetitions(seg: hl7.Segment | None, f: int) -> int:
    if seg is None or f >= len(seg):
        return 0
    fld = seg[f]
    if isinstance(fld, hl7.Field) and len(fld) and isinstance(fld[0], hl7.Repetition):
        return len(fld)
    return 1 if str(fld) else 0


def ts(value: str) -> datetime | None:
    """An HL7 DTM (``YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]``) as an aware datetime, or ``None``."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = hl7.parse_datetime(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        try:
            parsed = timezone.make_aware(parsed)
        except Exception:
            return None
    return parsed


def dt(value: str) -> date | None:
    m = _DIGITS.match((value or "").strip())
    if not m:
        return None
    try:
        return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def patient_facts(message: hl7.Message) -> PatientFacts | None:
    pid = first(message, "PID")
    if pid is None:
        return None
    identifier = authority = ""
    for r in range(1, max(repetitions(pid, 3), 1) + 1):
        identifier = get(pid, 3, 1, r=r)
        if identifier:
            authority = get(pid, 3, 4, r=r)
            break
    if not identifier:  # v2.1–2.2: PID-2 (external id) or PID-4 (alternate id)
        identifier = get(pid, 2) or get(pid, 4)
    family = get(pid, 5, 1)
    given = get(pid, 5, 2)
    name = f"{family}^{given}" if given else family
    return PatientFacts(
        identifier=identifier[:100],
        name=name[:200],
        sex=get(pid, 8)[:1].upper(),
        birth_date=dt(get(pid, 7)),
        assigning_authority=authority[:180],
    )


def _facility(message: hl7.Message) -> str:
    return get(message[0], 4)


def _occurred(message: hl7.Message, *preferred: str) -> datetime | None:
    evn = first(message, "EVN")
    msh = message[0]
    for value in (*preferred, get(evn, 6), get(evn, 2), get(msh, 7)):
        when = ts(value)
        if when is not None:
            return when
    return None


def encounter_fact(message: hl7.Message, kind: str, *, source: str, facility: str) -> EncounterFact:
    patient = patient_facts(message)
    if patient is None or not patient.identifier:
        raise MappingError("PID-3 (patient identifier) is missing")
    pv1 = first(message, "PV1")
    preferred: tuple[str, ...] = ()
    if kind == "admitted":
        preferred = (get(pv1, 44),)
    elif kind == "discharged":
        preferred = (get(pv1, 45),)
    return EncounterFact(
        kind=kind,  # type: ignore[arg-type]
        patient=patient,
        visit_number=get(pv1, 19)[:100],
        department_code=get(pv1, 10),
        ward_code=get(pv1, 3, 1),
        room_code=get(pv1, 3, 2),
        bed_code=get(pv1, 3, 3),
        attending_doctor=get(pv1, 7, 1),
        prior_ward_code=get(pv1, 6, 1),
        prior_room_code=get(pv1, 6, 2),
        prior_bed_code=get(pv1, 6, 3),
        occurred_at=_occurred(message, *preferred),
        source=source,
        facility=facility,
        encounter_class=get(pv1, 2),
    )


def _value(obx: hl7.Segment) -> str:
    """OBX-5 as text: SN (``<^182``, ``^10^-^20``) joined without separators, CE/CWE by their text
    (else code), other types with their components joined by ``^``; repetitions by ``~``."""
    vtype = get(obx, 2).upper()
    parts = []
    for r in range(1, max(repetitions(obx, 5), 1) + 1):
        comps = [get(obx, 5, c, r=r) for c in range(1, 9)]
        while comps and not comps[-1]:
            comps.pop()
        if vtype == "SN":
            text = "".join(comps)
        elif vtype in ("CE", "CWE", "CNE") and comps:
            text = (comps[1] if len(comps) > 1 and comps[1] else comps[0]) if comps else ""
        else:
            text = "^".join(comps)
        parts.append(text)
    return "~".join(p for p in parts if p)


def _flags(obx: hl7.Segment) -> list[str]:
    flags = []
    for r in range(1, max(repetitions(obx, 8), 1) + 1):
        flag = get(obx, 8, 1, r=r).upper()
        if flag:
            flags.append(flag[:8])
    return flags


def observation_fact(obx: hl7.Segment) -> ObservationFact:
    unit = get(obx, 6, 1) or get(obx, 6, 2)
    return ObservationFact(
        code=get(obx, 3, 1) or get(obx, 3, 2) or f"OBX-{get(obx, 1) or '?'}",
        name=get(obx, 3, 2),
        value=_value(obx),
        unit=unit,
        reference_range=get(obx, 7),
        flags=tuple(_flags(obx)),
        status=get(obx, 11),
        observed_at=ts(get(obx, 14)),
        value_type=get(obx, 2),
    )


def result_facts(message: hl7.Message, *, source: str, facility: str) -> list[ResultFact]:
    patient = patient_facts(message)
    if patient is None or not patient.identifier:
        raise MappingError("PID-3 (patient identifier) is missing")
    pv1 = first(message, "PV1")
    msh_time = _occurred(message)
    groups: list[tuple[hl7.Segment | None, list[hl7.Segment]]] = []
    current: tuple[hl7.Segment | None, list[hl7.Segment]] | None = None
    for seg in message:
        name = str(seg[0]) if len(seg) else ""
        if name == "OBR":
            current = (seg, [])
            groups.append(current)
        elif name == "OBX":
            if current is None:
                current = (None, [])
                groups.append(current)
            current[1].append(seg)
    facts = []
    for obr, obxs in groups:
        occurred = ts(get(obr, 22)) or ts(get(obr, 7)) or msh_time
        facts.append(
            ResultFact(
                patient=patient,
                visit_number=get(pv1, 19)[:100],
                observations=tuple(observation_fact(o) for o in obxs),
                ordering_doctor=get(obr, 16, 1),
                attending_doctor=get(pv1, 7, 1),
                department_code=get(pv1, 10),
                ward_code=get(pv1, 3, 1),
                room_code=get(pv1, 3, 2),
                bed_code=get(pv1, 3, 3),
                occurred_at=occurred,
                source=source,
                facility=facility,
                order_code=get(obr, 4, 1) or get(obr, 4, 2),
                order_name=get(obr, 4, 2),
                placer_number=get(obr, 2, 1),
                filler_number=get(obr, 3, 1),
                result_status=get(obr, 25),
            )
        )
    return facts


DOCTOR_TYPES = {"MD", "DR", "D", "PHY", "DOC", "DOCTOR", "医生", "医师"}
NURSE_TYPES = {"RN", "N", "NUR", "NURSE", "护士"}


def staff_payloads(
    message: hl7.Message, *, source: str, facility: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """One ``hr.employee.hired`` payload per STF of an MFN^M02 whose MFE-1 adds or updates (MAD,
    MUP); deletions and deactivations (MDL, MDC) are skipped and named in the second list."""
    payloads: list[dict[str, Any]] = []
    skipped: list[str] = []
    mfe: hl7.Segment | None = None
    stf: hl7.Segment | None = None
    pra: hl7.Segment | None = None
    records: list[tuple[hl7.Segment | None, hl7.Segment, hl7.Segment | None]] = []
    for seg in message:
        name = str(seg[0]) if len(seg) else ""
        if name == "MFE":
            if stf is not None:
                records.append((mfe, stf, pra))
            mfe, stf, pra = seg, None, None
        elif name == "STF":
            if stf is not None:
                records.append((mfe, stf, pra))
                pra = None
            stf = seg
        elif name == "PRA":
            pra = seg
    if stf is not None:
        records.append((mfe, stf, pra))
    for mfe_seg, stf_seg, pra_seg in records:
        event = get(mfe_seg, 1).upper() or "MAD"
        employee_no = get(stf_seg, 2, 1) or get(stf_seg, 1, 1) or get(mfe_seg, 4, 1)
        if event not in ("MAD", "MUP"):
            skipped.append(f"{employee_no or '?'} ({event})")
            continue
        family, given = get(stf_seg, 3, 1), get(stf_seg, 3, 2)
        staff_type = get(stf_seg, 4).upper()
        if pra_seg is not None or staff_type in DOCTOR_TYPES:
            position = "doctor"
        elif staff_type in NURSE_TYPES:
            position = "nurse"
        else:
            position = "admin"
        hired = ts(get(stf_seg, 12, 1)) or ts(get(mfe_seg, 3))
        payloads.append(
            {
                "employee_no": employee_no[:32],
                "name": f"{family}^{given}" if given else family,
                "gender": get(stf_seg, 5)[:1].upper(),
                "department": get(stf_seg, 8, 1),  # the sender's code: mapped by processing
                "position_kind": position,
                "title": get(stf_seg, 18, 1) or get(pra_seg, 2, 1),
                "hire_date": hired.date().isoformat() if hired else None,
                "phone": get(stf_seg, 10, 1),
                "email": get(stf_seg, 15, 1),
                "source": source,
            }
        )
    return payloads, skipped


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def map_message(text: str, *, message_id: int | None = None, facility_hint: str = "") -> Mapped:
    """Map one stored message (segments separated by ``\\r``)."""
    message = parse(text)
    msh = message[0]
    mtype = get(msh, 9, 1).upper()
    trigger = get(msh, 9, 2).upper()
    facility = _facility(message) or facility_hint
    source = f"hl7:{message_id}" if message_id is not None else "hl7"
    mapped = Mapped(message_type=mtype, trigger=trigger, facility=facility)
    if mtype == "ADT" and trigger in ADT_KINDS:
        mapped.encounters.append(
            encounter_fact(message, ADT_KINDS[trigger], source=source, facility=facility)
        )
    elif mtype == "ORU" and trigger in ("R01", ""):
        mapped.results.extend(result_facts(message, source=source, facility=facility))
        if not mapped.results:
            mapped.ignored = "ORU without OBR or OBX: no result"
    elif mtype == "MFN" and trigger == "M02":
        mapped.staff, skipped = staff_payloads(message, source=source, facility=facility)
        if not mapped.staff:
            mapped.ignored = "MFN^M02 without staff to add or update" + (
                f" (skipped: {', '.join(skipped)})" if skipped else ""
            )
    else:
        mapped.ignored = f"{mtype or '?'}^{trigger or '?'} is not mapped"
    return mapped
