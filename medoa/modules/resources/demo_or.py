"""The demo hospital's operating rooms and expensive equipment.

- 8 operating rooms ``OR-01`` … ``OR-08`` (手术间) of the OR department ``ANES-OR`` (手术室; its
  head nurse approves; 麻醉科 ``ANES`` is the anaesthesia department told of overruns), turnover
  buffer 30 min;
- today's schedule: 3–4 cases per room from 08:00 by the surgeons of 普外科/骨科/泌尿外科/妇产科 and
  the anaesthetists of 麻醉科, no conflicts (each case checked with the service's conflict check);
  cases before now ended, the current ones running, later ones approved, a few requests waiting
  for tomorrow; in ``OR-08`` a case that ends 40 minutes ago and is still running, so the overrun
  job reports it within a minute of the demo starting;
- equipment: CT ×2 and MRI (放射科), ventilators ×3 (重症医学科), ultrasound ×2 (超声科), a C-arm
  (手术室), with bookings today.

Idempotent: nothing is created when the rooms exist.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Final

from django.db import transaction
from django.utils import timezone

from medoa.core.org.models import Department, Staff
from medoa.core.registries import DemoLoader

from .equipment import day_bounds, equipment_conflicts
from .models_or import (
    EquipmentBooking,
    EquipmentBookingStatus,
    EquipmentKind,
    EquipmentStatus,
    MedicalEquipment,
    OperatingRoom,
    ORBooking,
    ORBookingStatus,
)
from .operating import or_conflicts

SEED: Final = 11
OR_DEPARTMENT: Final = "ANES-OR"
ANAESTHESIA: Final = "ANES"
SURGICAL: Final = ("SURG", "ORTH", "UROL", "OBGY")
ROOMS: Final = 8
OR_HISTORY_DAYS: Final = 35  # ended cases on the working days before today (the utilisation KPI)
PROCEDURES: Final = {
    "SURG": ("腹腔镜胆囊切除术", "腹股沟疝修补术", "阑尾切除术", "甲状腺部分切除术", "胃癌根治术"),
    "ORTH": ("全髋关节置换术", "膝关节镜检查术", "股骨骨折内固定术", "腰椎间盘切除术"),
    "UROL": ("经尿道前列腺电切术", "输尿管镜碎石术", "腹腔镜肾囊肿去顶术"),
    "OBGY": ("剖宫产术", "腹腔镜子宫肌瘤剔除术", "宫腔镜检查术"),
}
EQUIPMENT: Final = (
    ("CT-01", "CT 1号机（64排）", EquipmentKind.CT, "RAD", "放射科一楼", "00:00", "00:00"),
    ("CT-02", "CT 2号机（双源）", EquipmentKind.CT, "RAD", "放射科一楼", "08:00", "20:00"),
    ("MRI-01", "磁共振 3.0T", EquipmentKind.MRI, "RAD", "放射科二楼", "08:00", "22:00"),
    ("VENT-01", "呼吸机 1号", EquipmentKind.VENTILATOR, "ICU", "ICU 设备间", "00:00", "00:00"),
    ("VENT-02", "呼吸机 2号", EquipmentKind.VENTILATOR, "ICU", "ICU 设备间", "00:00", "00:00"),
    ("VENT-03", "转运呼吸机", EquipmentKind.VENTILATOR, "ICU", "ICU 设备间", "00:00", "00:00"),
    ("US-01", "彩超 1号", EquipmentKind.ULTRASOUND, "US", "超声科", "08:00", "18:00"),
    ("US-02", "便携彩超", EquipmentKind.ULTRASOUND, "US", "超声科", "08:00", "18:00"),
    ("CARM-01", "C臂 X 光机", EquipmentKind.C_ARM, "ANES-OR", "手术室", "08:00", "18:00"),
)


def _t(text: str) -> dt.time:
    h, m = text.split(":")
    return dt.time(int(h), int(m))


def _staff_of(codes: tuple[str, ...]) -> list[Staff]:
    return list(
        Staff.objects.filter(department__code__in=codes, status="active", user__isnull=False)
        .filter(role_assignments__role__code="doctor")
        .select_related("user", "department")
        .distinct()
        .order_by("employee_no")
    )


def _mrn(rng: random.Random) -> str:
    return f"D{rng.randint(1000000, 9999999)}"


def _initials(rng: random.Random) -> str:
    return f"{rng.choice('王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗')}*"


@transaction.atomic
def demo_load(*, password: str = "") -> None:
    if OperatingRoom.objects.exists():
        return
    or_dept = Department.objects.filter(code=OR_DEPARTMENT).first()
    anes = Department.objects.filter(code=ANAESTHESIA).first()
    if or_dept is None:
        return
    rng = random.Random(SEED)  # noqa: S311 — demo data, not secrets
    rooms = [
        OperatingRoom.objects.create(
            code=f"OR-{i:02d}",
            name=f"{i}号手术间",
            department=or_dept,
            anaesthesia_department=anes,
            sort_order=i,
        )
        for i in range(1, ROOMS + 1)
    ]
    devices = {}
    for code, name, kind, dept_code, where, a, b in EQUIPMENT:
        dept = Department.objects.filter(code=dept_code).first() or or_dept
        devices[code] = MedicalEquipment.objects.create(
            code=code,
            name=name,
            kind=kind,
            department=dept,
            location=where,
            available_from=_t(a),
            available_to=_t(b),
        )
    devices["VENT-03"].status = EquipmentStatus.MAINTENANCE
    devices["VENT-03"].status_note = "季度预防性维护"
    devices["VENT-03"].save()
    surgeons = _staff_of(SURGICAL)
    anaesthetists = _staff_of((ANAESTHESIA,))
    if not surgeons or not anaesthetists:
        return
    now = timezone.now()
    today = timezone.localtime(now).date()
    day_start, _end = day_bounds(today)
    _history(rooms, surgeons, anaesthetists, today)
    # OR-08: a case running 40 minutes past its planned end (the overrun job reports it)
    late_room = rooms[-1]
    _case(
        rng,
        late_room,
        surgeons[-1],
        anaesthetists[-1],
        now - dt.timedelta(minutes=160),
        120,
        now,
        force_status=ORBookingStatus.INCISION,
    )
    carm = [devices["CARM-01"]]
    for index, room in enumerate(rooms):
        surgeon = surgeons[index % len(surgeons)]
        start = day_start + dt.timedelta(hours=8)
        for n in range(rng.choice((3, 4))):
            minutes = rng.choice((60, 90, 120, 150))
            kit = carm if room.code in ("OR-04", "OR-05") and n == 1 else []
            for anaesthetist in anaesthetists[index % len(anaesthetists) :] + anaesthetists:
                if not or_conflicts(
                    room=room,
                    surgeon_id=surgeon.pk,
                    anaesthetist_id=anaesthetist.pk,
                    start=start,
                    end=start + dt.timedelta(minutes=minutes),
                    devices=kit,
                ):
                    _case(rng, room, surgeon, anaesthetist, start, minutes, now, kit=kit)
                    break
            start += dt.timedelta(minutes=minutes + room.turnover_minutes)
    # requests waiting for the OR head nurse (tomorrow)
    tomorrow = day_start + dt.timedelta(days=1, hours=8)
    for i, room in enumerate(rooms[:3]):
        for surgeon in surgeons[(i + 3) % len(surgeons) :] + surgeons:
            end = tomorrow + dt.timedelta(minutes=90)
            if not or_conflicts(
                room=room, surgeon_id=surgeon.pk, anaesthetist_id=None, start=tomorrow, end=end
            ):
                _case(rng, room, surgeon, None, tomorrow, 90, now, force_status=ORBookingStatus.REQUESTED)
                break
    # equipment bookings today
    for code, hours in (
        ("CT-01", (8, 9, 10, 13, 14, 15)),
        ("MRI-01", (8, 10, 14, 16)),
        ("US-01", (9, 11, 15)),
    ):
        device = devices[code]
        for h in hours:
            start = day_start + dt.timedelta(hours=h)
            end = start + dt.timedelta(minutes=rng.choice((30, 45, 60)))
            if equipment_conflicts([device], start, end):
                continue
            used = end <= now
            EquipmentBooking.objects.create(
                equipment=device,
                start=start,
                end=end,
                purpose=rng.choice(("增强扫描", "平扫", "术前评估", "复查")),
                patient_mrn=_mrn(rng),
                patient_initials=_initials(rng),
                status=EquipmentBookingStatus.DONE if used else EquipmentBookingStatus.BOOKED,
                used_from=start if used else None,
                used_to=end if used else None,
            )
    vent_start = day_start + dt.timedelta(hours=7)
    EquipmentBooking.objects.create(
        equipment=devices["VENT-01"],
        start=vent_start,
        end=vent_start + dt.timedelta(hours=16),
        purpose="术后呼吸支持",
        patient_mrn=_mrn(rng),
        patient_initials=_initials(rng),
        status=EquipmentBookingStatus.IN_USE if vent_start <= now else EquipmentBookingStatus.BOOKED,
        used_from=vent_start if vent_start <= now else None,
    )


def _history(
    rooms: list[OperatingRoom], surgeons: list[Staff], anaesthetists: list[Staff], today: dt.date
) -> int:
    """Ended cases on the working days before today: each room 3–4 cases from 08:00, one surgeon
    and one anaesthetist per room and day (so nobody is in two rooms at once), written in one
    insert — a month for the operating-room utilisation and case figures of the cockpit."""
    rng = random.Random(SEED + 1)  # noqa: S311 — demo data, not secrets
    teams = min(len(rooms), len(surgeons), len(anaesthetists))
    made = []
    for back in range(OR_HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=back)
        if day.weekday() >= 5:
            continue
        day_start, _end = day_bounds(day)
        for index, room in enumerate(rooms[:teams]):
            surgeon = surgeons[(index + back) % len(surgeons)]
            anaesthetist = anaesthetists[(index + back) % len(anaesthetists)]
            start = day_start + dt.timedelta(hours=8)
            for _n in range(rng.choice((3, 4))):
                minutes = rng.choice((60, 90, 120, 150))
                end = start + dt.timedelta(minutes=minutes)
                made.append(_booking(rng, room, surgeon, anaesthetist, start, minutes, ORBookingStatus.ENDED))
                start = end + dt.timedelta(minutes=room.turnover_minutes)
    ORBooking.objects.bulk_create(made)
    return len(made)


def _booking(
    rng: random.Random,
    room: OperatingRoom,
    surgeon: Staff,
    anaesthetist: Staff | None,
    start: dt.datetime,
    minutes: int,
    status: str,
) -> ORBooking:
    """A demo case (not saved) in ``status``, its times as the status implies."""
    end = start + dt.timedelta(minutes=minutes)
    running_or_done = status in (ORBookingStatus.IN_ROOM, ORBookingStatus.INCISION, ORBookingStatus.ENDED)
    procs = PROCEDURES.get(surgeon.department.code) or PROCEDURES["SURG"]
    return ORBooking(
        room=room,
        status=status,
        patient_mrn=_mrn(rng),
        patient_initials=_initials(rng),
        visit_number=f"ZY{rng.randint(10000000, 99999999)}",
        procedure=rng.choice(procs),
        surgeon=surgeon,
        anaesthetist=anaesthetist,
        planned_start=start,
        duration_minutes=minutes,
        planned_end=end,
        requested_by=surgeon.user,
        requested_at=start - dt.timedelta(days=1),
        decided_at=start - dt.timedelta(hours=20) if status != ORBookingStatus.REQUESTED else None,
        in_room_at=start - dt.timedelta(minutes=10) if running_or_done else None,
        incision_at=start + dt.timedelta(minutes=15) if running_or_done else None,
        ended_at=end + dt.timedelta(minutes=rng.randint(-10, 15))
        if status == ORBookingStatus.ENDED
        else None,
    )


def _case(
    rng: random.Random,
    room: OperatingRoom,
    surgeon: Staff,
    anaesthetist: Staff | None,
    start: dt.datetime,
    minutes: int,
    now: dt.datetime,
    *,
    kit: list[MedicalEquipment] | None = None,
    force_status: str | None = None,
) -> ORBooking:
    end = start + dt.timedelta(minutes=minutes)
    if force_status:
        status = force_status
    elif end <= now:
        status = ORBookingStatus.ENDED
    elif start <= now:
        status = ORBookingStatus.INCISION
    else:
        status = ORBookingStatus.APPROVED
    b = _booking(rng, room, surgeon, anaesthetist, start, minutes, status)
    b.save()
    running_or_done = b.in_room_at is not None
    for device in kit or []:
        EquipmentBooking.objects.create(
            equipment=device,
            or_booking=b,
            start=start,
            end=end,
            purpose=b.procedure,
            patient_mrn=b.patient_mrn,
            patient_initials=b.patient_initials,
            department=room.department,
            status=EquipmentBookingStatus.DONE
            if status == ORBookingStatus.ENDED
            else EquipmentBookingStatus.BOOKED,
            used_from=b.in_room_at if running_or_done else None,
            used_to=b.ended_at,
        )
    return b


DEMO_LOADER: Final = DemoLoader("resources_or", demo_load, order=71, depends_on=("org",))
