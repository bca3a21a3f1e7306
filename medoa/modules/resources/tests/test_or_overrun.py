"""The overrun rule: a running case 30 minutes past its planned end is reported once, with the
next cases and their teams, and the coordination notifications go out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.core.registries import periodic_jobs
from medoa.modules.resources import operating

from .test_or_support import *  # noqa: F403

pytestmark = pytest.mark.django_db


def _case(orp, room, start, minutes, surgeon, anaes):
    b = operating.booking_request(
        actor=surgeon.user,
        room=room,
        patient_mrn="M",
        procedure="胆囊切除术",
        surgeon=surgeon,
        anaesthetist=anaes,
        planned_start=start,
        duration_minutes=minutes,
    )
    return operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=True)


def test_overrun_reported_once_with_next_cases_and_notifications(orp, ors):
    now = timezone.now().replace(second=0, microsecond=0)
    running = _case(orp, ors.r1, now - dt.timedelta(minutes=100), 60, orp.surgeon, orp.anaes)
    nxt = _case(orp, ors.r1, now + dt.timedelta(minutes=60), 60, orp.surgeon2, orp.anaes2)
    operating.booking_status_set(actor=orp.or_nurse.user, booking=running, status="in_room")
    operating.booking_status_set(actor=orp.or_nurse.user, booking=running, status="incision")
    Notification.objects.all().delete()

    # 29 minutes over: nothing yet
    assert operating.overrun_scan(now=now - dt.timedelta(minutes=11)) == 0
    assert periodic_jobs.get("resources.or_overrun").run() == 1  # 40 minutes over now
    assert operating.overrun_scan() == 0  # once per case
    assert operating.overrun_scan(now=now + dt.timedelta(hours=1)) == 0

    event = Event.objects.get(type="resources.or.overrun")
    p = event.payload
    assert (p["booking_id"], p["room"], p["coordinator"]) == (running.pk, "OR-01", "or_hn")
    assert p["overrun_minutes"] == p["minutes_over"] and 39 <= p["overrun_minutes"] <= 41
    assert p["planned_end"] == running.planned_end.isoformat()
    assert [c["booking_id"] for c in p["next_cases"]] == [nxt.pk]
    assert p["next_cases"][0]["team"] == [
        {"role": "surgeon", "username": "surg2", "name": "外科乙"},
        {"role": "anaesthetist", "username": "anaes2", "name": "麻醉乙"},
    ]
    told = set(Notification.objects.values_list("recipient__username", flat=True))
    assert told == {"surg2", "anaes2", "or_hn", "anaes_head"}
    note = Notification.objects.get(recipient__username="surg2")
    assert note.link == f"/resources/or/bookings/{running.pk}/coordinate/" and note.urgent
    running.refresh_from_db()
    assert running.overrun_at is not None


def test_ended_or_not_started_cases_are_not_reported(orp, ors):
    now = timezone.now()
    done = _case(orp, ors.r1, now - dt.timedelta(minutes=200), 60, orp.surgeon, orp.anaes)
    operating.booking_status_set(actor=orp.or_nurse.user, booking=done, status="in_room")
    operating.booking_status_set(actor=orp.or_nurse.user, booking=done, status="ended")
    _case(
        orp, ors.r2, now - dt.timedelta(minutes=200), 60, orp.surgeon2, orp.anaes2
    )  # approved, never started
    assert operating.overrun_scan() == 0
    assert not Event.objects.filter(type="resources.or.overrun").exists()
