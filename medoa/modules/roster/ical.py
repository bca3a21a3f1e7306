"""A person's published shifts as an iCalendar (RFC 5545) feed: one VEVENT per shift, times in
UTC, the uid stable per person and day so that calendar apps update an event when a swap or a
re-plan changes it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from medoa.core.org.models import Staff

from .models import RosterCell

PRODID = "-//MedOA//Roster//ZH"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets folded (RFC 5545 §3.1)."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts, current = [], b""
    for ch in line:
        b = ch.encode("utf-8")
        if len(current) + len(b) > 74:
            parts.append(current.decode("utf-8"))
            current = b""
        current += b
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_for(staff: Staff, cells: Iterable[RosterCell]) -> str:
    tz = timezone.get_default_timezone()
    now = _utc(timezone.now())
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(staff.name)} 排班",
    ]
    for c in cells:
        st = c.shift_type
        if st is None or st.start is None:
            continue
        start = dt.datetime.combine(c.date, st.start, tzinfo=tz)
        end = start + dt.timedelta(minutes=st.minutes)
        ward = c.roster.ward.name_zh if c.roster_id else ""
        lines += [
            "BEGIN:VEVENT",
            f"UID:roster-{staff.pk}-{c.date:%Y%m%d}@medoa",
            f"DTSTAMP:{now}",
            f"DTSTART:{_utc(start)}",
            f"DTEND:{_utc(end)}",
            f"SUMMARY:{_escape(f'{st.name} {st.code}')}",
            f"LOCATION:{_escape(ward)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
