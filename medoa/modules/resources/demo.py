"""The bed board of the demo hospital: about 400 beds across the clinical wards, most of them
occupied by demo patients admitted through real clinical records, and the code mapping of the
demo HIS (facility ``DEMO_HOSPITAL``).

The demo HIS's codes (documented in docs/resources.md, "Demo"):

- PV1-3 ``<HIS ward code>^<room>^<bed>``: the HIS ward code is ``BQ`` + two digits (``BQ01`` …,
  one per ward, in the order of :data:`WARDS`) and maps (kind ``ward``) to the MedOA ward code;
  rooms are ``<floor><nn>`` (``301``); beds are two-digit numbers unique within the ward, sent as
  they are (no bed mapping needed);
- PV1-7 the attending doctor's employee number, mapped (kind ``doctor``) to the username;
- PID-3 the MRN ``D`` + seven digits, PV1-19 the visit number ``ZY`` + eight digits.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace
from typing import Final

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from medoa.core.clinical.facts import EncounterFact, PatientFacts
from medoa.core.clinical.mapping import CodeResolver
from medoa.core.clinical.models import CodeMapping
from medoa.core.clinical.services import ClinicalBatch, apply_encounter
from medoa.core.org.demo_data import GIVEN_FEMALE, GIVEN_MALE, SURNAMES
from medoa.core.org.models import Department, Staff
from medoa.core.registries import DemoLoader

from .beds_choices import BedStatus, BedType
from .models import Bed, Room, WardSettings
from .services import apply_encounter_event, cleaning_process_install

FACILITY: Final = "DEMO_HOSPITAL"
SEED: Final = 7
OCCUPANCY: Final = 0.82
HISTORY_DAYS: Final = 35  # the stays before today's patients, so the cockpit has a month to show
DEMO_DESIGNER: Final = "admin"


@dataclass(frozen=True)
class WardPlan:
    code: str
    beds: int
    floor: int
    per_room: int = 3
    bed_type: str = BedType.STANDARD


WARDS: Final[tuple[WardPlan, ...]] = (
    WardPlan("CARD-W1", 36, 3),
    WardPlan("CARD-W2", 30, 4),
    WardPlan("RESP-W1", 34, 5),
    WardPlan("GAST-W1", 30, 6),
    WardPlan("NEUR-W1", 30, 7),
    WardPlan("SURG-W1", 34, 8),
    WardPlan("SURG-W2", 28, 9),
    WardPlan("ORTH-W1", 34, 10),
    WardPlan("UROL-W1", 24, 11),
    WardPlan("PED-W1", 26, 12),
    WardPlan("OBGY-W1", 26, 13),
    WardPlan("OBGY-W2", 24, 14),
    WardPlan("EMER-W1", 24, 1, per_room=4),
    WardPlan("ICU-W1", 20, 2, per_room=1, bed_type=BedType.MONITORED),
)


def his_ward_code(index: int) -> str:
    return f"BQ{index + 1:02d}"


def room_code(plan: WardPlan, bed_number: int) -> str:
    return f"{plan.floor}{(bed_number - 1) // plan.per_room + 1:02d}"


def his_ward_codes() -> dict[str, str]:
    """MedOA ward code → the demo HIS's ward code."""
    return {plan.code: his_ward_code(i) for i, plan in enumerate(WARDS)}


def _name(rng: random.Random) -> tuple[str, str]:
    sex = rng.choice("MF")
    given = GIVEN_MALE if sex == "M" else GIVEN_FEMALE
    return rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2)))), sex


def _doctors(ward: Department) -> list[Staff]:
    department = ward.parent if ward.parent is not None else ward
    return list(
        Staff.objects.filter(
            role_assignments__role__code="doctor",
            role_assignments__department=department,
            user__is_active=True,
        )
        .select_related("user")
        .distinct()
        .order_by("employee_no")
    )


def mappings_install(*, actor: object | None = None) -> int:
    """The demo HIS's ward and doctor mappings for facility ``DEMO_HOSPITAL`` (idempotent)."""
    made = 0
    wards = {d.code: d for d in Department.objects.filter(code__in=[p.code for p in WARDS])}
    for i, plan in enumerate(WARDS):
        if plan.code not in wards:
            continue
        _, created = CodeMapping.objects.get_or_create(
            kind="ward",
            facility=FACILITY,
            external_code=his_ward_code(i),
            defaults={"internal_code": plan.code, "note": "demo HIS"},
        )
        made += created
    doctors = Staff.objects.filter(role_assignments__role__code="doctor").select_related("user").distinct()
    for staff in doctors:
        _, created = CodeMapping.objects.get_or_create(
            kind="doctor",
            facility=FACILITY,
            external_code=staff.employee_no,
            defaults={"internal_code": staff.user.username, "note": "demo HIS"},
        )
        made += created
    return made


def beds_install() -> list[Bed]:
    """Rooms and beds of the demo wards (idempotent)."""
    made: list[Bed] = []
    now = timezone.now()
    for plan in WARDS:
        ward = Department.objects.filter(code=plan.code).first()
        if ward is None or Bed.objects.filter(ward=ward).exists():
            continue
        WardSettings.objects.get_or_create(
            ward=ward, defaults={"cleaning_minutes": 30 if plan.code == "ICU-W1" else 60}
        )
        rooms: dict[str, Room] = {}
        for n in range(1, plan.beds + 1):
            code = room_code(plan, n)
            if code not in rooms:
                rooms[code] = Room.objects.create(ward=ward, code=code, sort_order=len(rooms))
            made.append(
                Bed(
                    ward=ward,
                    room=rooms[code],
                    code=f"{n:02d}",
                    bed_type=plan.bed_type,
                    sort_order=n,
                    status_since=now,
                    updated_at=now,
                )
            )
    Bed.objects.bulk_create(made)
    return made


def _admission(
    person: tuple[str, str],
    serial: int,
    mrn: str,
    visit: str,
    ward_code: str,
    bed: Bed,
    doctor: Staff | None,
    at: dt.datetime,
) -> EncounterFact:
    """A demo patient's (name, sex) admission to ``bed`` (the HIS's codes; ``serial`` names its
    source)."""
    name, sex = person
    return EncounterFact(
        kind="admitted",
        patient=PatientFacts(identifier=mrn, name=name, sex=sex),
        visit_number=visit,
        ward_code=ward_code,
        room_code=bed.room.code,
        bed_code=bed.code,
        attending_doctor=doctor.employee_no if doctor else "",
        occurred_at=at,
        source=f"demo:{serial}",
        facility=FACILITY,
        encounter_class="I",
    )


def patients_admit(*, seed: int = SEED, occupancy: float = OCCUPANCY) -> dict[int, dt.datetime]:
    """Admit demo patients to most beds through ``apply_encounter`` (facility DEMO_HOSPITAL, the
    HIS's codes), and put them on the board at once (the worker later finds the events handled).
    Returns each occupied bed's admission time."""
    rng = random.Random(seed)  # noqa: S311 — demo data, not security
    his_codes = his_ward_codes()
    now = timezone.now()
    admitted: dict[int, dt.datetime] = {}
    serial = 0
    for plan in WARDS:
        ward = Department.objects.filter(code=plan.code).select_related("parent").first()
        if ward is None:
            continue
        doctors = _doctors(ward)
        beds = list(Bed.objects.filter(ward=ward, status=BedStatus.AVAILABLE).select_related("room"))
        for bed in beds:
            serial += 1
            if rng.random() > occupancy:
                continue
            person = _name(rng)
            mrn, visit = f"D{2026000 + serial:07d}", f"ZY{20260000 + serial:08d}"
            doctor = doctors[serial % len(doctors)] if doctors else None
            at = now - dt.timedelta(hours=rng.randint(6, 24 * 12))
            fact = _admission(person, serial, mrn, visit, his_codes[plan.code], bed, doctor, at)
            for event in apply_encounter(fact):
                apply_encounter_event(event_id=event.pk, kind="admitted", payload=event.payload)
            admitted[bed.pk] = at
    return admitted


def patients_history(admitted: dict[int, dt.datetime], *, seed: int = SEED, days: int = HISTORY_DAYS) -> int:
    """The stays of the last ``days`` days before today's patients, bed by bed (2–12 days each,
    a few hours' turnaround between them), through the clinical services in one batch — so the
    cockpit's length of stay, turnover and occupancy have a month of history. They publish no
    events: the bed board shows today (a month of discharges must not start a month of cleaning)
    and the reports' demo loader builds those days' figures."""
    rng = random.Random(seed + 1)  # noqa: S311 — demo data, not security
    his_codes = his_ward_codes()
    now = timezone.now()
    start = now - dt.timedelta(days=days)
    facts: list[EncounterFact] = []
    stays = 0
    for plan in WARDS:
        ward = Department.objects.filter(code=plan.code).first()
        if ward is None:
            continue
        doctors = _doctors(ward)
        for bed in Bed.objects.filter(ward=ward).select_related("room").order_by("sort_order"):
            free_from = admitted.get(bed.pk) or now - dt.timedelta(hours=rng.randint(2, 48))
            end = free_from - dt.timedelta(hours=rng.randint(2, 8))
            while end > start:
                begin = end - dt.timedelta(hours=rng.randint(2 * 24, 12 * 24))
                stays += 1
                doctor = doctors[stays % len(doctors)] if doctors else None
                mrn, visit = f"D{2024000 + stays:07d}", f"ZY{20250000 + stays:08d}"
                ward_code = his_codes[plan.code]
                admitted_fact = replace(
                    _admission(_name(rng), stays, mrn, visit, ward_code, bed, doctor, begin),
                    source=f"demo:h{stays}a",
                )
                facts.append(admitted_fact)
                facts.append(
                    replace(admitted_fact, kind="discharged", occurred_at=end, source=f"demo:h{stays}d")
                )
                end = begin - dt.timedelta(hours=rng.randint(2, 8))
    # every patient, visit and doctor looked up in three queries, not one each per fact
    resolver = CodeResolver()
    resolver.prefetch(
        identifiers={f.patient.identifier for f in facts},
        visits={f.visit_number for f in facts},
        doctors={f.attending_doctor for f in facts},
    )
    batch = ClinicalBatch(resolver)
    for fact in facts:
        batch.apply_encounter(fact)
    # the rows only, no events: a month of finished stays is an initial load, not news — the
    # worker would otherwise spend the demo's first minutes (and the SQLite write lock) on them
    # while today's critical values wait; the reports build those days' figures at load
    batch.resolver.flush()
    return stays


@transaction.atomic
def demo_load(*, password: str) -> None:
    """Demo loader ``resources``: the cleaning process, the HIS code mapping, beds, patients.
    ``password`` is the loaders' common argument (unused)."""
    designer = get_user_model().objects.filter(username=DEMO_DESIGNER).first()
    if designer is not None:
        cleaning_process_install(actor=designer)
    mappings_install()
    if beds_install():
        patients_history(patients_admit())


DEMO_LOADER: Final = DemoLoader("resources", demo_load, order=70, depends_on=("org",))
