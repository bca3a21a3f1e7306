"""A small hospital for the critical-value tests: 心内科 (CARD) with its ward W5, a doctor, the
department head, the ward's head nurse, 医务处 and 质控办."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department, Staff
from medoa.core.org.tests.factories import staff_with_roles

_obs = itertools.count(1000)


@dataclass
class Hospital:
    root: Department
    card: Department
    w5: Department
    surg: Department
    doctor: Staff
    other_doctor: Staff
    head: Staff
    nurse_head: Staff
    medical: Staff
    quality: Staff
    surg_head: Staff


@pytest.fixture
def hospital(department_factory: Any) -> Hospital:
    root = department_factory(code="HOSP", kind=DepartmentKind.HOSPITAL)
    card = department_factory(code="CARD", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="心内科")
    w5 = department_factory(code="W5", kind=DepartmentKind.WARD, parent=card, name_zh="心内一病区")
    surg = department_factory(code="SURG", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="外科")
    med = department_factory(code="MED", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="医务处")
    qc = department_factory(code="QC", kind=DepartmentKind.DEPARTMENT, parent=root, name_zh="质控办")

    def person(*roles: str, dept: Department, username: str, **kw: Any) -> Staff:
        return staff_with_roles(*roles, department=dept, root=root, user__username=username, **kw)

    return Hospital(
        root=root,
        card=card,
        w5=w5,
        surg=surg,
        doctor=person("doctor", dept=card, username="dr_li", name="李医生", employee_no="D100"),
        other_doctor=person("doctor", dept=card, username="dr_zhao", name="赵医生", employee_no="D101"),
        head=person("dept_head", dept=card, username="head_card", name="王主任", employee_no="H100"),
        nurse_head=person("head_nurse", dept=w5, username="hn_w5", name="陈护士长", employee_no="N100"),
        medical=person(
            "medical_affairs", dept=med, username="med_office", name="医务处张", employee_no="M100"
        ),
        quality=person("quality_office", dept=qc, username="qc_office", name="质控办刘", employee_no="Q100"),
        surg_head=person("dept_head", dept=surg, username="head_surg", name="外科主任", employee_no="H200"),
    )


def payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "patient_id": "MRN001",
        "patient_initials": "张*",
        "result_id": 1,
        "observation_id": next(_obs),
        "visit_number": "V001",
        "department": "CARD",
        "ward": "W5",
        "room": "501",
        "bed": "12",
        "attending_doctor": "dr_li",
        "ordering_doctor": "",
        "test_code": "K",
        "test_name": "血钾",
        "value": "6.9",
        "unit": "mmol/L",
        "flag": "HH",
        "reference_range": "3.5-5.5",
        "observed_at": timezone.now().isoformat(),
        "occurred_at": timezone.now().isoformat(),
        "source": "hl7:1",
    }
    data.update(overrides)
    return data
