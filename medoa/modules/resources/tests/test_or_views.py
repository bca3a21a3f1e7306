"""The OR and equipment pages: day calendar, booking form (with the live check), approvals, the
phone case page, coordination after an overrun, the equipment calendar with utilisation; and
the demo loader."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from medoa.modules.resources import operating
from medoa.modules.resources.models_or import EquipmentBooking, ORBooking

from .test_or_support import *  # noqa: F403
from .test_or_support import at

pytestmark = pytest.mark.django_db


def client_for(staff):
    c = Client()
    c.force_login(staff.user)
    return c


def _request(orp, room, hour, surgeon, **kw):
    return operating.booking_request(
        actor=surgeon.user,
        room=room,
        patient_mrn="MRN1",
        patient_initials="李*",
        procedure="疝修补术",
        surgeon=surgeon,
        planned_start=at(hour),
        duration_minutes=90,
        **kw,
    )


def test_day_calendar_rooms_as_columns_time_as_rows(orp, ors):
    b = _request(orp, ors.r1, 9, orp.surgeon, anaesthetist=orp.anaes)
    page = client_for(orp.or_nurse).get("/resources/or/", {"date": at(0).date().isoformat()})
    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("OR-01") < html.index("OR-02")
    assert 'rowspan="3"' in html and f"#{b.pk} 疝修补术" in html and "李*" in html
    assert "MRN1" not in html  # initials only on the shared screen
    assert "style=" not in html and "<script>" not in html
    assert client_for(orp.cleaner).get("/resources/or/").status_code == 403


def test_booking_form_check_and_submit(orp, ors):
    first = _request(orp, ors.r1, 9, orp.surgeon)
    c = client_for(orp.surgeon2)
    form = {
        "room": "OR-01",
        "date": at(0).date().isoformat(),
        "time": "10:00",
        "duration": "60",
        "surgeon": str(orp.surgeon2.pk),
        "procedure": "胆囊切除术",
        "patient_mrn": "M2",
    }
    got = c.get("/resources/or/check", form).json()
    assert (
        got["ok"] is False and got["conflicts"][0]["id"] == first.pk and got["conflicts"][0]["kind"] == "room"
    )
    assert c.get("/resources/or/check", {**form, "time": "11:00"}).json() == {"ok": True, "conflicts": []}
    res = c.post("/resources/or/book/", form)
    assert res.status_code == 409 and f"#{first.pk}" in res.content.decode()
    res = c.post("/resources/or/book/", {**form, "time": "11:00"})
    assert res.status_code == 302
    assert ORBooking.objects.count() == 2
    assert client_for(orp.cleaner).get("/resources/or/book/").status_code == 403


def test_approvals_page_and_decision(orp, ors):
    b = _request(orp, ors.r1, 9, orp.surgeon)
    c = client_for(orp.or_hn)
    assert f"#{b.pk}" in c.get("/resources/or/approvals/").content.decode()
    assert client_for(orp.surgeon).get("/resources/or/approvals/").status_code == 403
    res = c.post(f"/resources/or/bookings/{b.pk}/decide", {"decision": "approve"})
    assert res.status_code == 302
    assert ORBooking.objects.get(pk=b.pk).status == "approved"
    assert 'class="or-card"' not in c.get("/resources/or/approvals/").content.decode()


def test_case_page_buttons(orp, ors):
    b = _request(orp, ors.r1, 9, orp.surgeon)
    operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=True)
    c = client_for(orp.or_nurse)
    html = c.get(f"/resources/or/bookings/{b.pk}/").content.decode()
    assert 'value="in_room" class="btn or-big btn-primary"' in html
    c.post(f"/resources/or/bookings/{b.pk}/", {"status": "in_room"})
    c.post(f"/resources/or/bookings/{b.pk}/", {"status": "incision"})
    assert ORBooking.objects.get(pk=b.pk).status == "incision"
    assert client_for(orp.ward_hn).get(f"/resources/or/bookings/{b.pk}/").status_code == 403


def test_coordinate_page_delay_and_move_recheck_conflicts(orp, ors):
    now = timezone.now()
    running = operating.booking_request(
        actor=orp.surgeon.user,
        room=ors.r1,
        patient_mrn="M",
        procedure="长手术",
        surgeon=orp.surgeon,
        planned_start=now - dt.timedelta(minutes=120),
        duration_minutes=60,
    )
    operating.booking_decide(actor=orp.or_hn.user, booking=running, approve=True)
    operating.booking_status_set(actor=orp.or_nurse.user, booking=running, status="in_room")
    nxt = operating.booking_request(
        actor=orp.surgeon2.user,
        room=ors.r1,
        patient_mrn="M2",
        procedure="下一台",
        surgeon=orp.surgeon2,
        planned_start=now + dt.timedelta(minutes=60),
        duration_minutes=60,
    )
    blocker = operating.booking_request(
        actor=orp.anaes_head.user,
        room=ors.r2,
        patient_mrn="M3",
        procedure="占用",
        surgeon=orp.anaes_head,
        planned_start=now + dt.timedelta(minutes=50),
        duration_minutes=60,
    )
    operating.overrun_scan()
    c = client_for(orp.or_hn)
    url = f"/resources/or/bookings/{running.pk}/coordinate/"
    html = c.get(url).content.decode()
    assert f"#{nxt.pk} 下一台" in html and "OR-02" in html
    # moving into OR-02 collides with the blocker: refused, named
    res = c.post(url, {"booking": nxt.pk, "room": "OR-02"}, follow=True)
    assert f"#{blocker.pk}" in res.content.decode()
    assert ORBooking.objects.get(pk=nxt.pk).room_id == ors.r1.pk
    c.post(url, {"booking": nxt.pk, "delay": "30"})
    assert ORBooking.objects.get(pk=nxt.pk).planned_start == nxt.planned_start + dt.timedelta(minutes=30)


def test_equipment_page_booking_and_utilisation(orp, ors):
    c = client_for(orp.equip)
    day = at(0).date().isoformat()
    c.post("/resources/equipment/", {"equipment": "CT-01", "date": day, "time": "09:00", "duration": "60"})
    assert EquipmentBooking.objects.filter(equipment=ors.ct).count() == 1
    html = c.get("/resources/equipment/", {"date": day}).content.decode()
    assert ("CT 1" in html and 'rowspan="2"' in html and "Utilisation" in html) or "利用率" in html
    c.post("/resources/equipment/VENT-01/status", {"status": "maintenance", "note": "保养"})
    ors.vent.refresh_from_db()
    assert ors.vent.status == "maintenance"
    html = client_for(orp.surgeon).get("/resources/equipment/", {"date": day}).content.decode()
    assert "VENT-01/status" not in html  # utilisation and status for managers only


def test_demo_loader(orh, orp, person):
    from medoa.modules.resources import demo_or

    person("doctor", department=orh.anes, username="anaes3")
    for i in range(3):
        person("doctor", department=orh.surg, username=f"surg_x{i}")
    demo_or.demo_load()
    assert ORBooking.objects.filter(room__code="OR-08", status="incision").exists()
    assert ORBooking.objects.filter(status="requested").count() == 3
    # no conflict anywhere among the active cases
    for b in ORBooking.objects.exclude(status__in=("ended", "rejected", "cancelled")):
        assert not operating.or_conflicts(
            room=b.room,
            surgeon_id=b.surgeon_id,
            anaesthetist_id=b.anaesthetist_id,
            start=b.planned_start,
            end=b.planned_end,
            exclude=b.pk,
        ), b
    demo_or.demo_load()  # idempotent
    assert ORBooking.objects.filter(room__code="OR-08", status="incision").count() == 1


def test_demo_history_fills_past_working_days_without_double_booking(orh, orp, person):
    from medoa.modules.resources import demo_or

    person("doctor", department=orh.anes, username="anaes3")
    for i in range(3):
        person("doctor", department=orh.surg, username=f"surg_x{i}")
    demo_or.demo_load()
    today = timezone.localdate()
    # the cases running now are not history: OR-08's overrunning case started 160 minutes ago,
    # on the day before shortly after midnight
    running = ORBooking.objects.filter(status__in=("in_room", "incision"))
    past = ORBooking.objects.filter(planned_start__date__lt=today).exclude(pk__in=running)
    assert past.exists() and not past.exclude(status="ended").exists()
    assert {timezone.localtime(b.planned_start).weekday() for b in past} <= {0, 1, 2, 3, 4}
    # nobody is in two rooms at once, and no room holds two cases at once
    cases = list(
        past.values_list("pk", "room_id", "surgeon_id", "anaesthetist_id", "planned_start", "planned_end")
    )
    for pk, room, surgeon, anaesthetist, start, end in cases:
        for other in cases:
            if other[0] != pk and other[4] < end and other[5] > start:
                assert room != other[1] and surgeon != other[2] and anaesthetist != other[3]
