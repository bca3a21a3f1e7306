"""The holiday calendar: which days are working days.

A day is a working day when it is a make-up working day (调休上班, ``Holiday`` of kind
``workday``), or when it is Monday–Friday and not a public holiday (``Holiday`` of kind
``holiday``). Leave counts working days only.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from .choices import HolidayKind
from .models import Holiday


def calendar_between(start: datetime.date, end: datetime.date) -> dict[datetime.date, str]:
    """The calendar entries (date → kind) from ``start`` to ``end`` inclusive. One query."""
    return dict(Holiday.objects.filter(date__gte=start, date__lte=end).values_list("date", "kind"))


def is_working_day(day: datetime.date, entries: dict[datetime.date, str]) -> bool:
    kind = entries.get(day)
    if kind == HolidayKind.WORKDAY:
        return True
    if kind == HolidayKind.HOLIDAY:
        return False
    return day.weekday() < 5


def days_of(start: datetime.date, end: datetime.date) -> Iterator[datetime.date]:
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


def working_dates(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """The working days from ``start`` to ``end`` inclusive (empty when ``end < start``)."""
    if end < start:
        return []
    entries = calendar_between(start, end)
    return [day for day in days_of(start, end) if is_working_day(day, entries)]


def working_days(start: datetime.date, end: datetime.date) -> int:
    return len(working_dates(start, end))


# The State Council's 2026 arrangement (国务院办公厅关于2026年部分节假日安排的通知): days off and the
# weekend days worked instead. Seeded by the demo; administrators edit the calendar page.
CHINA_2026: tuple[tuple[str, str, str], ...] = (
    *((f"2026-01-0{d}", HolidayKind.HOLIDAY, "元旦") for d in (1, 2, 3)),
    ("2026-01-04", HolidayKind.WORKDAY, "元旦调休上班"),
    *((f"2026-02-{d:02d}", HolidayKind.HOLIDAY, "春节") for d in range(15, 24)),
    ("2026-02-14", HolidayKind.WORKDAY, "春节调休上班"),
    ("2026-02-28", HolidayKind.WORKDAY, "春节调休上班"),
    *((f"2026-04-0{d}", HolidayKind.HOLIDAY, "清明节") for d in (4, 5, 6)),
    *((f"2026-05-0{d}", HolidayKind.HOLIDAY, "劳动节") for d in (1, 2, 3, 4, 5)),
    ("2026-05-09", HolidayKind.WORKDAY, "劳动节调休上班"),
    *((f"2026-06-{d}", HolidayKind.HOLIDAY, "端午节") for d in (19, 20, 21)),
    *((f"2026-09-{d}", HolidayKind.HOLIDAY, "中秋节") for d in (25, 26, 27)),
    *((f"2026-10-0{d}", HolidayKind.HOLIDAY, "国庆节") for d in range(1, 8)),
    ("2026-09-20", HolidayKind.WORKDAY, "国庆节调休上班"),
    ("2026-10-10", HolidayKind.WORKDAY, "国庆节调休上班"),
)
