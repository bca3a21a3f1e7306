"""The roster part of the demo hospital: 心血管内科一病区 (CARD-W1) with its 20 nurses
(card_n01 … card_n20; the head nurse card_hn plans and is not rostered).

Shift types (the default set), demand (白班 A 4–5 on weekdays, 3–4 at weekends; 小夜 P 3;
大夜 N 2–3 with at least one N3 or above on every night), contracts (four nurses on 44 hours,
the others 40; 8 nights a month at most, 6 for N0), one nurse pregnant from her 7th month and one
nursing an infant (no nights), and the statutory holidays of 2026–2027.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from medoa.core.org.demo_data import CARD_NURSE_COUNT, CARD_NURSE_WARD, card_nurse_username
from medoa.core.org.models import Department, Staff
from medoa.core.registries import DemoLoader

from .models import Demand, Holiday, ShiftType, StaffProfile
from .services import ward_setup

# (date, name): 国务院办公厅 holiday arrangements (the days off).
HOLIDAYS = [
    *[(dt.date(2026, 1, d), "元旦") for d in (1, 2, 3)],
    *[(dt.date(2026, 2, d), "春节") for d in range(15, 24)],
    *[(dt.date(2026, 4, d), "清明节") for d in (4, 5, 6)],
    *[(dt.date(2026, 5, d), "劳动节") for d in range(1, 6)],
    *[(dt.date(2026, 6, d), "端午节") for d in (19, 20, 21)],
    *[(dt.date(2026, 9, d), "中秋节") for d in (25, 26, 27)],
    *[(dt.date(2026, 10, d), "国庆节") for d in range(1, 8)],
    *[(dt.date(2027, 1, d), "元旦") for d in (1, 2, 3)],
    *[(dt.date(2027, 2, d), "春节") for d in range(5, 12)],
]
# shift code: (weekday minimum, weekday preferred, weekend minimum, weekend preferred)
DEMAND = {"A": (4, 5, 3, 4), "P": (3, 3, 3, 3), "N": (2, 3, 2, 3)}
NIGHT_SKILL = ("N3", 1)
CONTRACT_44 = (3, 8, 13, 18)  # card_n03, n08, n13, n18 work 44 hours
PREGNANT = 4  # card_n04: 7th month from the demo's first day
NURSING = 9  # card_n09: nursing an infant


def setup_ward(ward: Department, *, today: dt.date) -> None:
    """Shift types, demand, contracts and flags of the demo ward (idempotent)."""
    ward_setup(ward=ward)
    types = {t.code: t for t in ShiftType.objects.filter(ward=ward)}
    for code, (wd_min, wd_pref, we_min, we_pref) in DEMAND.items():
        for weekday in range(7):
            weekend = weekday >= 5
            skill = NIGHT_SKILL if code == "N" else ("", 0)
            Demand.objects.get_or_create(
                ward=ward,
                shift_type=types[code],
                weekday=weekday,
                on_date=None,
                defaults={
                    "minimum": we_min if weekend else wd_min,
                    "preferred": we_pref if weekend else wd_pref,
                    "skill_level": skill[0],
                    "skill_minimum": skill[1],
                },
            )
    for i in range(1, CARD_NURSE_COUNT + 1):
        staff = Staff.objects.filter(user__username=card_nurse_username(i)).first()
        if staff is None:
            continue
        profile = StaffProfile.objects.filter(staff=staff).first()
        if profile is None:
            continue
        profile.weekly_hours = 44 if i in CONTRACT_44 else 40
        profile.max_nights_per_month = 6 if staff.nursing_level == "N0" else 8
        if i == PREGNANT:
            profile.pregnant_from = today - dt.timedelta(days=20)
            profile.pregnant_until = today + dt.timedelta(days=75)
        if i == NURSING:
            profile.nursing_until = today + dt.timedelta(days=200)
        profile.save()


@transaction.atomic
def demo_load(*, password: str) -> None:
    """``password`` is the loaders' common argument (unused)."""
    for day, name in HOLIDAYS:
        Holiday.objects.get_or_create(date=day, defaults={"name": name})
    ward = Department.objects.filter(code=CARD_NURSE_WARD).first()
    if ward is None:
        return
    if StaffProfile.objects.filter(ward=ward).exists():
        return
    setup_ward(ward, today=dt.date.today())


DEMO_LOADER = DemoLoader("roster", demo_load, order=60, depends_on=("org",))
