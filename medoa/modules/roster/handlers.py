"""Reactions to other modules' events.

``approvals.leave.approved`` (published by the approval centre; payload: ``staff`` username,
``dates`` the ISO dates blocked — ``start_date``/``end_date`` are used when ``dates`` is absent —
and ``request_id``): the days become unavailable (kind leave) for the roster. Idempotent: a day
already blocked for leave stays as it is. The handler reads the payload as a plain mapping, so it
works whether or not the approvals module registered the type's schema in this process.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from medoa.core.audit.services import audit_record
from medoa.core.events.errors import EventRejected
from medoa.core.events.models import Event
from medoa.core.org.models import Staff

from .choices import UnavailabilityKind
from .services import unavailability_block

log = logging.getLogger("medoa.roster")
MAX_DAYS = 366


def _leave_dates(payload: dict[str, Any]) -> list[dt.date]:
    raw = payload.get("dates")
    if raw:
        return sorted({dt.date.fromisoformat(str(d)) for d in raw})
    start, end = payload.get("start_date"), payload.get("end_date")
    if not start:
        return []
    first = dt.date.fromisoformat(str(start))
    last = dt.date.fromisoformat(str(end or start))
    if (last - first).days > MAX_DAYS:
        raise EventRejected(f"leave of {(last - first).days} days")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def block_leave_days(event: Event) -> None:
    payload = event.payload if isinstance(event.payload, dict) else {}
    username = str(payload.get("staff") or "")
    try:
        dates = _leave_dates(payload)
    except ValueError as exc:
        raise EventRejected(f"leave dates: {exc}") from None
    staff = Staff.objects.filter(user__username=username).first()
    if staff is None or not dates:
        log.info("roster: leave event %s names no known staff or no dates; ignored", event.pk)
        return
    reference = f"leave:{payload.get('request_id') or payload.get('leave') or event.pk}"
    added = unavailability_block(staff=staff, days=dates, kind=UnavailabilityKind.LEAVE, reference=reference)
    if added:
        audit_record(
            actor=None,
            actor_name="roster",
            action="roster.leave.blocked",
            target=staff,
            details={"event": event.pk, "reference": reference, "dates": [d.isoformat() for d in dates]},
        )
