"""Fixtures of the bed board's tests: a small hospital with one ward of beds, the people around
it, and the cleaning process deployed through the service layer."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.grants import sync_role_grants
from medoa.core.clinical.facts import EncounterFact, PatientFacts
from medoa.core.clinical.services import apply_encounter
from medoa.core.org.models import Staff
from medoa.core.org.tests.factories import person_maker
from medoa.modules.resources.models import Bed, Room
from medoa.modules.resources.services import cleaning_process_install

FAC = "DEMO_HOSPITAL"


@pytest.fixture
def hospital(department_factory: Any) -> SimpleNamespace:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    clin = department_factory(code="CLIN", name_zh="临床科室", kind="category", parent=root)
    card = department_factory(code="CARD", name_zh="心血管内科", parent=clin)
    ward = department_factory(code="CARD-W1", name_zh="心内一病区", kind="ward", parent=card)
    surg = department_factory(code="SURG", name_zh="普外科", parent=clin)
    sward = department_factory(code="SURG-W1", name_zh="普外一病区", kind="ward", parent=surg)
    log = department_factory(code="LOGI", name_zh="后勤保障处", parent=root)
    med = department_factory(code="MED", name_zh="医务处", parent=root)
    return SimpleNamespace(root=root, card=card, ward=ward, surg=surg, sward=sward, log=log, med=med)


@pytest.fixture
def person(hospital: SimpleNamespace) -> Callable[..., Staff]:
    return person_maker(default=hospital.ward, root=hospital.root)


@pytest.fixture
def people(person: Callable[..., Staff], hospital: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        admin=person("it", department=hospital.log, username="itadmin", name="信息"),
        head_nurse=person("head_nurse", "nurse", username="hn", name="护士长"),
        nurse=person("nurse", username="nurse1", name="护士"),
        doctor=person("doctor", department=hospital.card, username="doc1", name="医生", employee_no="D001"),
        surg_nurse=person("nurse", department=hospital.sward, username="snurse", name="外科护士"),
        cleaner=person("housekeeping", department=hospital.log, username="cleaner1", name="保洁员"),
        logistics=person("logistics", department=hospital.log, username="logi", name="后勤主管"),
        admission=person("medical_affairs", department=hospital.med, username="ruyuan", name="入院处"),
    )


@pytest.fixture
def beds(hospital: SimpleNamespace) -> dict[str, Bed]:
    out = {}
    for ward in (hospital.ward, hospital.sward):
        room = Room.objects.create(ward=ward, code="301")
        for n in ("01", "02", "03"):
            out[f"{ward.code}/{n}"] = Bed.objects.create(ward=ward, room=room, code=n)
    return out


@pytest.fixture
def deployed(people: SimpleNamespace) -> None:
    cleaning_process_install(actor=people.admin.user)


def admit(
    kind: str = "admitted",
    *,
    mrn: str = "MRN1",
    visit: str = "V1",
    ward: str = "CARD-W1",
    bed: str = "01",
    doctor: str = "D001",
    **extra: Any,
) -> list[Any]:
    return apply_encounter(
        EncounterFact(
            kind=kind,  # type: ignore[arg-type]
            patient=PatientFacts(identifier=mrn, name="张^三"),
            visit_number=visit,
            ward_code=ward,
            room_code="301",
            bed_code=bed,
            attending_doctor=doctor,
            facility=FAC,
            source=f"test:{kind}",
            **extra,
        )
    )
