"""The quality part of the demo hospital: time limits (ICU: 5 minutes for potassium and glucose;
the emergency department 5 minutes for everything) and four weeks of critical-value history in the
clinical departments, so that 医务处 and 质控办 see a timeliness table from the first minute.

The history is sample data written directly with its own timestamps (no notifications are sent
for it, nothing is audited): patients ``DEMO-Hnnnn`` with initials only, observation ids below zero
so that they never meet a real observation. Live critical values come through HL7 (the demo HIS
simulator) and go through the whole loop. Idempotent: loads once.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Final

from django.db import transaction
from django.utils import timezone

from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department, RoleAssignment
from medoa.core.registries import DemoLoader

from .models import AlertStatus, CriticalAlert, CriticalValueLimit, RoutedTo

TESTS: Final = (
    ("K", "血钾", ("6.8", "7.1", "2.4", "2.6"), "mmol/L", "3.5-5.5"),
    ("GLU", "血糖", ("1.9", "2.1", "27.4", "31.0"), "mmol/L", "3.9-6.1"),
    ("HGB", "血红蛋白", ("48", "52", "55"), "g/L", "130-175"),
    ("PLT", "血小板", ("18", "15", "22"), "10^9/L", "125-350"),
    ("INR", "国际标准化比值", ("5.2", "6.0"), "", "0.8-1.2"),
    ("TNI", "肌钙蛋白I", ("2.40", "5.10"), "ng/mL", "0-0.04"),
)
ACTIONS: Final = (
    "已复查并予对症处理，已告知家属。",
    "已通知上级医生，调整治疗方案，1 小时后复查。",
    "已予纠正处理，复查结果回升，继续监测。",
    "床旁评估患者，予输血治疗并复查。",
)
SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
HISTORY_DAYS: Final = 28
PER_DEPARTMENT: Final = 6


def _doctors_by_department() -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for ra in RoleAssignment.objects.filter(role__code="doctor").select_related("staff__user"):
        out.setdefault(ra.department_id, []).append(ra.staff.user)
    return out


@transaction.atomic
def demo_load(**_kwargs: Any) -> None:
    for code, test, minutes in (("ICU", "K", 5), ("ICU", "GLU", 5), ("EMER", "", 5)):
        department = Department.objects.filter(code=code).first()
        if department is not None:
            CriticalValueLimit.objects.get_or_create(
                department=department,
                test_code=test,
                defaults={"ack_minutes": minutes, "escalate_minutes": 10},
            )
    if CriticalAlert.objects.filter(observation_id__lt=0).exists():
        return
    rng = random.Random(20261126)  # noqa: S311 — sample data, not security
    doctors = _doctors_by_department()
    now = timezone.now()
    n = 0
    rows = []
    for department in Department.objects.filter(
        kind=DepartmentKind.DEPARTMENT, pk__in=list(doctors)
    ).order_by("path"):
        wards = list(Department.objects.filter(parent=department, kind=DepartmentKind.WARD).order_by("code"))
        if not wards:
            continue
        for _ in range(PER_DEPARTMENT):
            n += 1
            code, name, values, unit, reference = rng.choice(TESTS)
            ward = rng.choice(wards)
            doctor = rng.choice(doctors[department.pk])
            notified = now - dt.timedelta(days=rng.uniform(1, HISTORY_DAYS), minutes=rng.uniform(0, 600))
            limit = 600
            # most in a few minutes; some late (escalated to the department head)
            seconds = rng.choice((60, 120, 180, 240, 300, 420, 540, 840, 1500))
            acknowledged = notified + dt.timedelta(seconds=seconds)
            late = seconds > limit
            value = rng.choice(values)
            low = value in {"2.4", "2.6", "1.9", "2.1", "48", "52", "55", "18", "15", "22"}
            rows.append(
                CriticalAlert(
                    observation_id=-n,
                    result_id=-n,
                    patient_id=f"DEMO-H{n:04d}",
                    patient_initials=f"{rng.choice(SURNAMES)}*",
                    visit_number=f"DV{n:05d}",
                    department_code=department.code,
                    ward_code=ward.code,
                    department=department,
                    ward=ward,
                    bed=str(rng.randint(1, 40)),
                    test_code=code,
                    test_name=name,
                    value=value,
                    unit=unit,
                    flag="LL" if low else "HH",
                    reference_range=reference,
                    observed_at=notified - dt.timedelta(minutes=20),
                    received_at=notified - dt.timedelta(seconds=3),
                    source="demo",
                    attending_doctor=doctor.get_username(),
                    responsible=doctor,
                    routed_to=RoutedTo.ATTENDING,
                    status=AlertStatus.CLOSED,
                    notified_at=notified,
                    ack_limit_seconds=limit,
                    escalate_limit_seconds=600,
                    ack_due_at=notified + dt.timedelta(seconds=limit),
                    escalation_level=1 if late else 0,
                    escalated_1_at=notified + dt.timedelta(seconds=limit + 3) if late else None,
                    acknowledged_at=acknowledged,
                    acknowledged_by=doctor,
                    ack_seconds=seconds,
                    timely=not late,
                    closed_at=acknowledged + dt.timedelta(minutes=rng.uniform(5, 40)),
                    closed_by=doctor,
                    action_taken=rng.choice(ACTIONS),
                )
            )
    CriticalAlert.objects.bulk_create(rows)


DEMO_LOADER: Final = DemoLoader("quality", demo_load, order=75, depends_on=("org",))
