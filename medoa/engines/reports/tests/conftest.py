"""(Module models through the app registry: the engine's tests import no module.)

A small hospital with hand-computed figures for 2026-03-01 … 2026-03-10 (10 days).

心内科 CARD → ward W5 (10 beds), 外科 SURG → ward W7 (5 beds), operating room OR1 of SURG.

W5 stays: E1 03-01 10:00 → 03-04 09:00 (3 census days, LOS 3); E2 02-25 → still in (10 days);
E3 03-05 08:00 → 18:00 (same day: 1 bed day, LOS 1); E4 03-08 12:00 → 03-12 (3 days in range).
W7 stay: E5 03-02 → 03-07 (5 census days, LOS 5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from medoa.core.clinical.models import Encounter, Patient
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department, Staff
from medoa.core.org.tests.factories import staff_with_roles

DAY_FROM = dt.date(2026, 3, 1)
DAY_TO = dt.date(2026, 3, 10)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2026, month, day, hour, minute), timezone.get_default_timezone())


@dataclass
class Hospital:
    root: Department
    card: Department
    w5: Department
    surg: Department
    w7: Department
    dean: Staff
    head_card: Staff
    head_surg: Staff
    nurse_w5: Staff
    doctor: Staff


def _beds(ward: Department, n: int) -> None:
    Bed = apps.get_model("resources", "Bed")
    Room = apps.get_model("resources", "Room")

    room = Room.objects.create(ward=ward, code="R1")
    for i in range(n):
        Bed.objects.create(ward=ward, room=room, code=f"{ward.code}-{i + 1}")


def _stay(ward: str, dept: str, admitted: dt.datetime, discharged: dt.datetime | None, n: int) -> Encounter:
    patient = Patient.objects.create(authority="T", identifier=f"P{n}", initials="AB")
    return Encounter.objects.create(
        patient=patient,
        authority="T",
        visit_number=f"V{n}",
        encounter_class="inpatient",
        status="discharged" if discharged else "admitted",
        department_code=dept,
        ward_code=ward,
        admitted_at=admitted,
        discharged_at=discharged,
    )


@pytest.fixture
def hospital(department_factory: Any) -> Hospital:
    root = department_factory(code="HOSP", kind=DepartmentKind.HOSPITAL)
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="心内科")
    w5 = department_factory(code="W5", kind=DepartmentKind.WARD, parent=card, name_zh="心内一病区")
    surg = department_factory(code="SURG", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="外科")
    w7 = department_factory(code="W7", kind=DepartmentKind.WARD, parent=surg, name_zh="外科一病区")
    office = department_factory(code="OFF", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="院办")

    def person(*roles: str, dept: Department, username: str, no: str) -> Staff:
        return staff_with_roles(*roles, department=dept, root=root, user__username=username, employee_no=no)

    h = Hospital(
        root=root,
        card=card,
        w5=w5,
        surg=surg,
        w7=w7,
        dean=person("dean", dept=office, username="dean", no="X1"),
        head_card=person("dept_head", dept=card, username="head_card", no="X2"),
        head_surg=person("dept_head", dept=surg, username="head_surg", no="X3"),
        nurse_w5=person("head_nurse", dept=w5, username="hn_w5", no="X4"),
        doctor=person("doctor", dept=card, username="dr", no="X5"),
    )
    _beds(w5, 10)
    _beds(w7, 5)
    _stay("W5", "CARD", at(3, 1, 10), at(3, 4, 9), 1)
    _stay("W5", "CARD", at(2, 25, 8), None, 2)
    _stay("W5", "CARD", at(3, 5, 8), at(3, 5, 18), 3)
    _stay("W5", "CARD", at(3, 8, 12), at(3, 12, 10), 4)
    _stay("W7", "SURG", at(3, 2, 9), at(3, 7, 9), 5)
    _critical(h)
    _cleanings(h)
    _approvals(h)
    _or(h)
    from medoa.engines.reports.facts import durations_rebuild, facts_rebuild

    facts_rebuild(DAY_FROM, DAY_TO)
    durations_rebuild(DAY_FROM, DAY_TO)
    return h


def _critical(h: Hospital) -> None:
    CriticalAlert = apps.get_model("quality", "CriticalAlert")

    def alert(n: int, ward: Department, dept: Department, timely: bool | None) -> None:
        CriticalAlert.objects.create(
            observation_id=n,
            result_id=n,
            patient_id="P",
            test_code="K",
            flag="HH",
            received_at=at(3, 3, 10),
            routed_to="attending",
            ack_limit_seconds=600,
            escalate_limit_seconds=1800,
            ack_due_at=at(3, 3, 10, 10),
            department=dept,
            ward=ward,
            timely=timely,
            status="closed" if timely is not None else "open",
        )

    alert(1, h.w5, h.card, True)
    alert(2, h.w5, h.card, True)
    alert(3, h.w5, h.card, False)
    alert(4, h.w7, h.surg, None)
    alert(5, h.w7, h.surg, False)


def _cleanings(h: Hospital) -> None:
    Bed = apps.get_model("resources", "Bed")
    BedCleaning = apps.get_model("resources", "BedCleaning")

    def clean(ward: Department, minutes: int) -> None:
        bed = Bed.objects.filter(ward=ward).first()
        BedCleaning.objects.create(
            bed=bed,
            ward=ward,
            status="done",
            discharged_at=at(3, 4, 9),
            due_at=at(3, 4, 10),
            finished_at=at(3, 4, 9) + dt.timedelta(minutes=minutes),
            turnaround_seconds=minutes * 60,
        )

    for m in (30, 50, 90):
        clean(h.w5, m)
    clean(h.w7, 20)


def _approvals(h: Hospital) -> None:
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")

    def req(dept: Department, staff: Staff, hours: int, n: int) -> None:
        ApprovalRequest.objects.create(
            number=f"SP-{n}",
            type_key="leave",
            initiator=staff,
            department=dept,
            status="approved",
            submitted_at=at(3, 2, 8),
            finished_at=at(3, 2, 8) + dt.timedelta(hours=hours),
        )

    req(h.card, h.doctor, 2, 1)
    req(h.card, h.doctor, 6, 2)
    req(h.surg, h.head_surg, 10, 3)


def _or(h: Hospital) -> None:
    OperatingRoom = apps.get_model("resources", "OperatingRoom")
    ORBooking = apps.get_model("resources", "ORBooking")

    room = OperatingRoom.objects.create(code="OR1", name="一号手术间", department=h.surg)
    ORBooking.objects.create(
        room=room,
        status="ended",
        patient_mrn="M1",
        procedure="阑尾切除",
        planned_start=at(3, 3, 9),
        surgeon=h.head_surg,
        duration_minutes=180,
        planned_end=at(3, 3, 12),
        in_room_at=at(3, 3, 9),
        ended_at=at(3, 3, 12),
    )
