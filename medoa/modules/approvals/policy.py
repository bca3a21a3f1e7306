"""The hospital's leave policy: each type's yearly entitlement when no balance row exists yet.

A balance row (``LeaveBalance``) is created from this policy the first time a person's balance of
a type and year is needed (their first request, or the demo's seeding); from then on the row is
what counts, and administrators change it on the balances page (every change in the ledger).
``None`` means unlimited (no balance check).

* 年假 annual — by years of work (seniority, from the hire date to 1 January of the year):
  under 1 year 0 days, 1–9 years 5 days, 10–19 years 10 days, 20 years or more 15 days
  (职工带薪年休假条例);
* 调休 compensatory — 0: days are granted for overtime worked (an administrator adds them);
* 婚假 marriage — 3 days; 丧假 bereavement — 3 days; 产假 maternity — 158 days (98 national + 60
  provincial); 病假 sick and 事假 personal — unlimited (sick leave needs a certificate, personal
  leave is unpaid; the approvers decide).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from medoa.core.org.models import Staff

from .choices import LeaveType

FIXED: dict[str, Decimal | None] = {
    LeaveType.COMPENSATORY: Decimal(0),
    LeaveType.MARRIAGE: Decimal(3),
    LeaveType.BEREAVEMENT: Decimal(3),
    LeaveType.MATERNITY: Decimal(158),
    LeaveType.SICK: None,
    LeaveType.PERSONAL: None,
}
# (years of work at least, days)
ANNUAL_STEPS: tuple[tuple[int, int], ...] = ((20, 15), (10, 10), (1, 5))


def years_of_work(staff: Staff, year: int) -> int:
    if staff.hire_date is None:
        return 1  # unknown: counted as a first full year
    reference = datetime.date(year, 1, 1)
    years = reference.year - staff.hire_date.year
    if (reference.month, reference.day) < (staff.hire_date.month, staff.hire_date.day):
        years -= 1
    return max(years, 0)


def annual_days(years: int) -> Decimal:
    for at_least, days in ANNUAL_STEPS:
        if years >= at_least:
            return Decimal(days)
    return Decimal(0)


def entitlement(staff: Staff, leave_type: str, year: int) -> Decimal | None:
    if leave_type == LeaveType.ANNUAL:
        return annual_days(years_of_work(staff, year))
    return FIXED[leave_type]
