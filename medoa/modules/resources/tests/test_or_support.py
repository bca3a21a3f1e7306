"""Fixtures of the operating-room and equipment tests: an OR department (手术室 under 麻醉科), its
head nurse and nurse, surgeons, anaesthetists, two rooms and three devices. Imported by the
test_or*/test_equipment* modules (``from .test_or_support import *``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.models import Staff
from medoa.modules.resources import operating
from medoa.modules.resources.models_or import EquipmentKind, MedicalEquipment, OperatingRoom

__all__ = ["at", "orh", "orp", "ors"]


def at(hour: int, minute: int = 0, days: int = 1) -> dt.datetime:
    """Tomorrow (``days`` from today) at ``hour:minute`` local time."""
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def orh(hospital: SimpleNamespace, department_factory: Any) -> SimpleNamespace:
    operating.register()
    sync_role_grants()
    clin = hospital.card.parent
    anes = department_factory(code="ANES", name_zh="麻醉科", parent=clin)
    or_dept = department_factory(code="ANES-OR", name_zh="手术室", kind="unit", parent=anes)
    rad = department_factory(code="RAD", name_zh="放射科", parent=hospital.root)
    return SimpleNamespace(anes=anes, or_dept=or_dept, rad=rad, **vars(hospital))


@pytest.fixture
def orp(orh: SimpleNamespace, person: Callable[..., Staff]) -> SimpleNamespace:
    return SimpleNamespace(
        or_hn=person("head_nurse", "nurse", department=orh.or_dept, username="or_hn", name="手术室护士长"),
        or_nurse=person("nurse", department=orh.or_dept, username="or_n1", name="巡回护士"),
        ward_hn=person("head_nurse", "nurse", username="ward_hn", name="病区护士长"),
        surgeon=person("doctor", department=orh.surg, username="surg1", name="外科甲"),
        surgeon2=person("doctor", department=orh.surg, username="surg2", name="外科乙"),
        anaes=person("doctor", department=orh.anes, username="anaes1", name="麻醉甲"),
        anaes2=person("doctor", department=orh.anes, username="anaes2", name="麻醉乙"),
        anaes_head=person("dept_head", "doctor", department=orh.anes, username="anaes_head", name="麻醉主任"),
        equip=person("equipment", department=orh.log, username="equip", name="设备科"),
        cleaner=person("housekeeping", department=orh.log, username="cleanerx", name="保洁"),
    )


@pytest.fixture
def ors(orh: SimpleNamespace) -> SimpleNamespace:
    r1 = OperatingRoom.objects.create(code="OR-01", name="1号手术间", department=orh.or_dept, sort_order=1)
    r2 = OperatingRoom.objects.create(
        code="OR-02", name="2号手术间", department=orh.or_dept, sort_order=2, turnover_minutes=45
    )
    ct = MedicalEquipment.objects.create(code="CT-01", name="CT 1", kind=EquipmentKind.CT, department=orh.rad)
    carm = MedicalEquipment.objects.create(
        code="CARM-01", name="C臂", kind=EquipmentKind.C_ARM, department=orh.or_dept
    )
    vent = MedicalEquipment.objects.create(
        code="VENT-01", name="呼吸机", kind=EquipmentKind.VENTILATOR, department=orh.rad
    )
    return SimpleNamespace(r1=r1, r2=r2, ct=ct, carm=carm, vent=vent)
