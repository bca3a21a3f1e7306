"""core/clinical services called directly (as FHIR does): facts → records and events, refusals
before any write, code mapping rules, initials, the mapping service's permission and audit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from medoa.core.access.grants import sync_role_grants
from medoa.core.audit.models import AuditEntry
from medoa.core.clinical.errors import ClinicalFactInvalid, ClinicalFactPending, UnmappedCode
from medoa.core.clinical.facts import EncounterFact, ObservationFact, PatientFacts, ResultFact
from medoa.core.clinical.models import CodeMapping, Encounter, Patient, Result
from medoa.core.clinical.services import (
    apply_encounter,
    apply_result,
    code_mapping_save,
    critical_flags_default,
    initials_of,
)
from medoa.core.events.models import Event
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.tests.factories import staff_with_roles

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ZHANG = PatientFacts(identifier="MRN1", name="张^三", sex="m", birth_date=date(1980, 1, 1))


@pytest.fixture
def wards(department_factory: Any) -> Any:
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT)
    return card, department_factory(code="W5", kind=DepartmentKind.WARD, parent=card)


def fact(kind: str, **kw: Any) -> EncounterFact:
    base: dict[str, Any] = {
        "patient": ZHANG,
        "visit_number": "V1",
        "ward_code": "W5",
        "room_code": "501",
        "bed_code": "12",
        "occurred_at": WHEN,
        "source": "fhir:enc-1",
        "facility": "HIS",
    }
    base.update(kw)
    return EncounterFact(kind=kind, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("DOE^JOHN", "J.D."),
        ("张^三", "张*"),
        ("张三", "张*"),
        ("John Doe", "J.D."),
        ("", ""),
        ("欧阳^修", "欧*"),
    ],
)
def test_initials(name: str, initials: str) -> None:
    assert initials_of(name) == initials


def test_admission_without_a_resolver_uses_medoa_codes_and_the_wards_department(wards: Any) -> None:
    [event] = apply_encounter(fact("admitted"))
    enc = Encounter.objects.get()
    assert (enc.department_code, enc.ward_code, enc.status, enc.admitted_at) == (
        "CARD",
        "W5",
        "admitted",
        WHEN,
    )
    patient = Patient.objects.get()
    assert (patient.authority, patient.sex, patient.birth_date, patient.name) == (
        "HIS",
        "M",
        date(1980, 1, 1),
        "张^三",
    )
    assert event.type == "clinical.patient.admitted"
    assert event.payload["department"] == "CARD"
    assert event.payload["source"] == "fhir:enc-1"
    assert event.payload["admitted_at"] == WHEN.isoformat()


def test_refusals_write_nothing(wards: Any) -> None:
    with pytest.raises(UnmappedCode) as unmapped:
        apply_encounter(fact("admitted", ward_code="HIS-9"))
    assert (unmapped.value.kind, unmapped.value.code, unmapped.value.facility) == ("ward", "HIS-9", "HIS")
    with pytest.raises(ClinicalFactPending):
        apply_encounter(fact("admission_cancelled"))
    with pytest.raises(ClinicalFactPending):
        apply_encounter(fact("discharge_cancelled"))
    with pytest.raises(ClinicalFactInvalid):
        apply_encounter(fact("admitted", patient=PatientFacts(identifier=" ")))
    assert not Patient.objects.exists()
    assert not Event.objects.exists()


def test_visit_number_of_another_patient_is_refused(wards: Any) -> None:
    apply_encounter(fact("admitted"))
    with pytest.raises(ClinicalFactInvalid) as exc:
        apply_encounter(fact("transferred", patient=PatientFacts(identifier="MRN2")))
    assert exc.value.field == "visit_number"
    assert Patient.objects.count() == 1


def test_facility_mapping_wins_over_the_star_one(wards: Any, department_factory: Any) -> None:
    department_factory(code="W6", kind=DepartmentKind.WARD, parent=wards[0])
    CodeMapping.objects.create(kind="ward", facility="*", external_code="X", internal_code="W5")
    CodeMapping.objects.create(kind="ward", facility="HIS", external_code="X", internal_code="W6")
    CodeMapping.objects.create(kind="bed", facility="*", external_code="12", internal_code="W6-01")
    apply_encounter(fact("admitted", ward_code="X"))
    enc = Encounter.objects.get()
    assert (enc.ward_code, enc.bed_code) == ("W6", "W6-01")


def test_update_without_an_encounter_changes_the_patient_only(wards: Any) -> None:
    apply_encounter(fact("admitted"))
    [event] = apply_encounter(
        fact("updated", visit_number="", patient=PatientFacts(identifier="MRN9", name="李^四"))
    )
    assert event.payload["encounter_id"] is None
    assert event.payload["patient_initials"] == "李*"
    assert Patient.objects.get(identifier="MRN9").name == "李^四"


def test_result_with_critical_flag_and_known_encounter(wards: Any) -> None:
    apply_encounter(fact("admitted"))
    result = ResultFact(
        patient=ZHANG,
        visit_number="V1",
        observations=[
            ObservationFact(code="K", name="血钾", value="2.1", unit="mmol/L", flags=["LL"]),
            ObservationFact(code="NA", value="140", flags=["N"]),
        ],
        occurred_at=WHEN,
        source="fhir:obs-1",
        facility="HIS",
        order_code="LYTES",
    )
    events = apply_result(result)
    assert [e.type for e in events] == ["clinical.result.received", "clinical.critical_value.received"]
    critical = events[1].payload
    assert (critical["flag"], critical["ward"], critical["bed"], critical["encounter_id"]) == (
        "LL",
        "W5",
        "12",
        Encounter.objects.get().pk,
    )
    assert Result.objects.get().critical_count == 1


def test_critical_flags_default(settings: Any) -> None:
    settings.MEDOA_HL7_CRITICAL_FLAGS = "PL, ph"
    assert critical_flags_default() == {"HH", "LL", "AA", "PL", "PH"}


def test_code_mapping_needs_the_permission_and_is_audited(wards: Any) -> None:
    sync_role_grants()
    nurse = staff_with_roles("nurse", department=wards[1], root=wards[0])
    it = staff_with_roles("it", department=wards[1], root=wards[0])
    with pytest.raises(PermissionDenied):
        code_mapping_save(actor=nurse.user, kind="ward", facility="*", external_code="A", internal_code="W5")
    with pytest.raises(ClinicalFactInvalid) as exc:
        code_mapping_save(actor=it.user, kind="ward", facility="*", external_code="A", internal_code="NOPE")
    assert exc.value.field == "internal_code"
    assert not CodeMapping.objects.exists()
    code_mapping_save(actor=it.user, kind="ward", facility="*", external_code="A", internal_code="W5")
    assert AuditEntry.objects.filter(action="clinical.code_mapping.saved").count() == 1
