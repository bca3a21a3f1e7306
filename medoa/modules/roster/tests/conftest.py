"""A small ward for the roster tests: 心血管内科 → 一病区 with a head nurse, nurses of given levels,
the default shift types and (optionally) demand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.models import Department, Staff
from medoa.core.org.tests.factories import DepartmentFactory, staff_with_roles
from medoa.modules.roster.models import Demand, Roster, RosterCell, ShiftType, StaffProfile
from medoa.modules.roster.services import ward_setup

MONTH = dt.date(2026, 12, 1)  # a Tuesday


@dataclass
class Ward:
    root: Department
    dept: Department
    ward: Department
    head: Staff
    nurses: list[Staff] = field(default_factory=list)

    def shift(self, code: str) -> ShiftType:
        return ShiftType.objects.get(ward=self.ward, code=code)

    def profile(self, i: int) -> StaffProfile:
        return StaffProfile.objects.get(staff=self.nurses[i])

    def demand(self, code: str, minimum: int, preferred: int | None = None, **kw: Any) -> None:
        for weekday in range(7):
            Demand.objects.create(
                ward=self.ward,
                shift_type=self.shift(code),
                weekday=weekday,
                minimum=minimum,
                preferred=preferred if preferred is not None else minimum,
                **kw,
            )

    def roster(self, month: dt.date = MONTH) -> Roster:
        return Roster.objects.get_or_create(ward=self.ward, month=month)[0]

    def write(self, roster: Roster, rows: dict[int, str], start: dt.date | None = None) -> None:
        """``rows``: nurse index → a pattern from ``start`` (default the 1st): a shift code per
        day, ``.`` for off."""
        first = start or roster.month
        for i, pattern in rows.items():
            for k, ch in enumerate(pattern):
                RosterCell.objects.update_or_create(
                    roster=roster,
                    staff=self.nurses[i],
                    date=first + dt.timedelta(days=k),
                    defaults={"shift_type": None if ch == "." else self.shift(ch)},
                )


def make_ward(levels: list[str], *, code: str = "CARD") -> Ward:
    sync_role_grants()
    root = Department.objects.filter(parent=None, kind="hospital").first() or DepartmentFactory(
        code="HOSP", name_zh="示范医院", kind="hospital"
    )
    dept = DepartmentFactory(code=code, name_zh="心血管内科", kind="department", parent=root)
    ward = DepartmentFactory(code=f"{code}-W1", name_zh="心血管内科一病区", kind="ward", parent=dept)
    head = staff_with_roles(
        "head_nurse",
        "nurse",
        department=ward,
        root=root,
        user__username=f"{code.lower()}_hn",
        name="罗佳",
        title="assoc_chief_nurse",
        nursing_level="N4",
    )
    nurses = [
        staff_with_roles(
            "nurse",
            department=ward,
            root=root,
            user__username=f"{code.lower()}_n{i + 1:02d}",
            name=f"护士{i + 1:02d}",
            title="nurse",
            nursing_level=level,
            employee_no=f"{code}{i + 1:03d}",
        )
        for i, level in enumerate(levels)
    ]
    ward_setup(ward=ward)
    return Ward(root, dept, ward, head, nurses)


@pytest.fixture
def ward_factory(db: Any) -> Callable[..., Ward]:
    return make_ward
