"""Five-field cron schedules (minute hour day-of-month month day-of-week), in local time.

Each field is ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of
those. Day of week is 0–7 (0 and 7 are Sunday). As in Vixie cron, when both day of month and day
of week are restricted, a day matches when EITHER does. Names (``MON``, ``JAN``) and the
``@daily`` shorthands are not supported: a schedule that does not parse raises ``CronError``
naming the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
MAX_LENGTH = 100


class CronError(ValueError):
    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _slash, step_text = part.partition("/")
        step = 1
        if _slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"the step in “{part}” must be a positive number", field=name)
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _dash, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise CronError(f"“{part}” is not a range of numbers", field=name)
            start, end = int(a), int(b)
        elif base.isdigit():
            start = end = int(base)
            if _slash:
                end = high
        else:
            raise CronError(f"“{part}” is not a number, a range or *", field=name)
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"“{part}” is outside {low}–{high}", field=name)
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    source: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    any_day: bool
    any_weekday: bool

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow

    def next_after(self, after: dt.datetime) -> dt.datetime:
        """The first matching minute strictly after ``after`` (aware), as an aware datetime in
        ``settings.TIME_ZONE``. Looks at most five years ahead (``CronError`` when nothing matches,
        for example ``0 0 31 2 *``)."""
        tz = ZoneInfo(settings.TIME_ZONE)
        local = timezone.localtime(after, tz).replace(second=0, microsecond=0, tzinfo=None)
        start = local + dt.timedelta(minutes=1)
        day = start.date()
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        for _ in range(366 * 5):
            if self.day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        candidate = dt.datetime(day.year, day.month, day.day, hour, minute)
                        if candidate >= start:
                            return candidate.replace(tzinfo=tz)
            day += dt.timedelta(days=1)
        raise CronError("the schedule never matches a date")


def parse_cron(source: str) -> Cron:
    if not isinstance(source, str) or len(source) > MAX_LENGTH:
        raise CronError(f"a schedule is at most {MAX_LENGTH} characters")
    parts = source.split()
    if len(parts) != 5:
        raise CronError("a schedule has five fields: minute hour day-of-month month day-of-week")
    sets = [_field(text, *spec) for text, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    cron = Cron(
        source=" ".join(parts),
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    cron.next_after(timezone.now())  # refuse schedules that never match (31 February)
    return cron
