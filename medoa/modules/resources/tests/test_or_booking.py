"""Operating-room bookings: every conflict refused naming the booking in the way, the turnover
buffer, approval by the OR head nurse, status updates, rescheduling."""

from __future__ import annotations

import datetime as dt

import pytest

from medoa.core.audit.models import AuditEntry
from medoa.core.events.models import Event
from medoa.core.notify.models import Notification
from medoa.modules.resources import operating
from medoa.modules.resources.equipment import ResourceConflict, ResourceError
from medoa.modules.resources.models_or import EquipmentBooking, ORBooking

from .test_or_support import *  # noqa: F403
from .test_or_support import at

pytestmark = pytest.mark.django_db


def book(orp, room, start, minutes=60, surgeon=None, anaes=None, equipment=(), actor=None):
    return operating.booking_request(
        actor=(actor or orp.surgeon).user,
        room=room,
        patient_mrn="MRN1",
        patient_initials="张*",
        procedure="阑尾切除术",
        surgeon=surgeon or orp.surgeon,
        anaesthetist=anaes,
        planned_start=start,
        duration_minutes=minutes,
        equipment=equipment,
    )


def refused(fn, *args, **kwargs):
    with pytest.raises(ResourceConflict) as info:
        fn(*args, **kwargs)
    return info.value


def test_request_notifies_the_or_head_nurse_and_publishes(orp, ors):
    b = book(orp, ors.r1, at(9), 90, anaes=orp.anaes, equipment=[ors.carm])
    assert (b.status, b.planned_end, b.room.code) == ("requested", at(10, 30), "OR-01")
    assert list(b.equipment_bookings.values_list("equipment__code", "start", "end")) == [
        ("CARM-01", at(9), at(10, 30))
    ]
    assert Notification.objects.filter(recipient=orp.or_hn.user, data__or_booking=b.pk).count() == 1
    assert not Notification.objects.filter(recipient=orp.ward_hn.user).exists()
    event = Event.objects.get(type="resources.or.status_changed")
    assert (event.payload["booking_id"], event.payload["status"]) == (b.pk, "requested")
    assert AuditEntry.objects.filter(action="resources.or.requested").count() == 1


def test_room_conflict_names_the_booking(orp, ors):
    first = book(orp, ors.r1, at(9), 120)
    err = refused(book, orp, ors.r1, at(10), 60, surgeon=orp.surgeon2)
    assert (err.kind, err.conflict.pk, err.field) == ("room", first.pk, "start")
    assert f"#{first.pk}" in err.message and "OR-01" in err.message
    assert ORBooking.objects.count() == 1


def test_turnover_buffer_default_and_per_room(orp, ors):
    first = book(orp, ors.r1, at(9), 60)  # ends 10:00, OR-01 buffer 30
    err = refused(book, orp, ors.r1, at(10, 20), 60, surgeon=orp.surgeon2)
    assert (err.kind, err.conflict.pk) == ("turnover", first.pk)
    assert "30" in err.message
    # 30 minutes after is fine
    assert book(orp, ors.r1, at(10, 30), 60, surgeon=orp.surgeon2).status == "requested"
    # before a case too: ends 8:45, next starts 9:00
    err = refused(book, orp, ors.r1, at(7, 45), 60, surgeon=orp.surgeon2)
    assert (err.kind, err.conflict.pk) == ("turnover", first.pk)
    # OR-02 has 45 minutes
    other = book(orp, ors.r2, at(13), 60)
    err = refused(book, orp, ors.r2, at(14, 40), 30, surgeon=orp.surgeon2)
    assert (err.kind, err.conflict.pk) == ("turnover", other.pk)
    assert book(orp, ors.r2, at(14, 45), 30, surgeon=orp.surgeon2).room == ors.r2


def test_surgeon_and_anaesthetist_conflicts(orp, ors):
    first = book(orp, ors.r1, at(9), 120, anaes=orp.anaes)
    err = refused(book, orp, ors.r2, at(10), 60, anaes=orp.anaes2)
    assert (err.kind, err.conflict.pk) == ("surgeon", first.pk)
    assert "外科甲" in err.message and f"#{first.pk}" in err.message
    err = refused(book, orp, ors.r2, at(10), 60, surgeon=orp.surgeon2, anaes=orp.anaes)
    assert (err.kind, err.conflict.pk) == ("anaesthetist", first.pk)
    assert "麻醉甲" in err.message
    # a surgeon booked as anaesthetist elsewhere is busy as well (one person, one place)
    assert book(orp, ors.r2, at(10), 60, surgeon=orp.surgeon2, anaes=orp.anaes2).status == "requested"


def test_equipment_conflicts_with_cases_and_own_bookings_and_maintenance(orp, ors):
    from medoa.modules.resources.equipment import equipment_book, equipment_status_set

    first = book(orp, ors.r1, at(9), 120, equipment=["CARM-01"])
    err = refused(book, orp, ors.r2, at(10), 60, surgeon=orp.surgeon2, equipment=["CARM-01"])
    assert (err.kind, err.conflict.or_booking_id) == ("equipment", first.pk)
    assert f"#{first.pk}" in err.message and "C臂" in err.message
    own = equipment_book(actor=orp.surgeon2.user, equipment=ors.ct, start=at(14), end=at(15))
    err = refused(book, orp, ors.r2, at(14, 30), 60, surgeon=orp.surgeon2, equipment=[ors.ct])
    assert (err.kind, err.conflict.pk) == ("equipment", own.pk)
    assert f"E#{own.pk}" in err.message
    equipment_status_set(actor=orp.equip.user, equipment=ors.vent, status="maintenance", note="保养")
    err = refused(book, orp, ors.r2, at(17), 60, surgeon=orp.surgeon2, equipment=[ors.vent])
    assert err.kind == "maintenance"
    assert EquipmentBooking.objects.count() == 2


def test_bad_input_is_named(orp, ors):
    with pytest.raises(ResourceError) as info:
        book(orp, ors.r1, at(9), 2)
    assert info.value.field == "duration_minutes"
    with pytest.raises(ResourceError) as info:
        book(orp, ors.r1, at(9).replace(tzinfo=None), 60)
    assert info.value.field == "planned_start"
    with pytest.raises(ResourceError) as info:
        book(orp, ors.r1, at(9), 60, anaes=orp.surgeon)
    assert info.value.field == "anaesthetist"
    with pytest.raises(ResourceError) as info:
        book(orp, "OR-99", at(9), 60)
    assert info.value.field == "room"
    with pytest.raises(ResourceError) as info:
        book(orp, ors.r1, at(9), 60, actor=orp.cleaner)
    assert info.value.status == 403
    assert ORBooking.objects.count() == 0 and not Event.objects.exists()


def test_approval_by_the_or_head_nurse_only(orp, ors):
    b = book(orp, ors.r1, at(9), 60, anaes=orp.anaes)
    for who, status in ((orp.surgeon, 403), (orp.or_nurse, 403), (orp.ward_hn, 404)):
        with pytest.raises(ResourceError) as info:
            operating.booking_decide(actor=who.user, booking=b, approve=True)
        assert info.value.status == status
    assert ORBooking.objects.get(pk=b.pk).status == "requested"
    with pytest.raises(ResourceError) as info:
        operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=False)
    assert info.value.field == "note"
    done = operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=True)
    assert (done.status, done.decided_by) == ("approved", orp.or_hn.user)
    assert Notification.objects.filter(recipient=orp.surgeon.user, data__or_booking=b.pk).exists()
    err = refused(operating.booking_decide, actor=orp.or_hn.user, booking=b, approve=True)
    assert err.field == "status"


def test_reject_frees_the_equipment(orp, ors):
    b = book(orp, ors.r1, at(9), 60, equipment=[ors.carm])
    operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=False, note="无麻醉医生")
    assert ORBooking.objects.get(pk=b.pk).status == "rejected"
    assert EquipmentBooking.objects.get().status == "cancelled"
    # the slot is free again
    assert book(orp, ors.r1, at(9), 60, surgeon=orp.surgeon2, equipment=[ors.carm]).status == "requested"


def test_status_flow_by_or_staff_and_team(orp, ors):
    b = book(orp, ors.r1, at(9), 60, anaes=orp.anaes, equipment=[ors.carm])
    err = refused(operating.booking_status_set, actor=orp.or_nurse.user, booking=b, status="in_room")
    assert "Requested" in err.message or "待审批" in err.message
    operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=True)
    with pytest.raises(ResourceError) as info:
        operating.booking_status_set(actor=orp.surgeon2.user, booking=b, status="in_room")
    assert info.value.status == 403
    operating.booking_status_set(actor=orp.or_nurse.user, booking=b, status="in_room")
    assert EquipmentBooking.objects.get().status == "in_use"
    operating.booking_status_set(actor=orp.anaes.user, booking=b, status="incision")
    done = operating.booking_status_set(actor=orp.surgeon.user, booking=b, status="ended")
    assert done.status == "ended" and done.in_room_at <= done.incision_at <= done.ended_at
    eb = EquipmentBooking.objects.get()
    assert (eb.status, eb.used_from, eb.used_to) == ("done", done.in_room_at, done.ended_at)
    statuses = list(
        Event.objects.filter(type="resources.or.status_changed")
        .order_by("id")
        .values_list("payload__status", flat=True)
    )
    assert statuses == ["requested", "approved", "in_room", "incision", "ended"]


def test_status_reported_by_event(orp, ors):
    from medoa.core.events.dispatcher import dispatch_until_idle
    from medoa.core.events.services import publish

    b = book(orp, ors.r1, at(9), 60)
    operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=True)
    publish("resources.or.status_reported", {"booking_id": b.pk, "status": "in_room"})
    publish("resources.or.status_reported", {"booking_id": b.pk, "status": "in_room"})
    dispatch_until_idle()
    b.refresh_from_db()
    assert b.status == "in_room" and b.in_room_at is not None
    assert Event.objects.filter(type="resources.or.status_changed", payload__status="in_room").count() == 1


def test_reschedule_rechecks_conflicts(orp, ors):
    first = book(orp, ors.r1, at(9), 60)
    second = book(orp, ors.r1, at(10, 30), 60, surgeon=orp.surgeon2)
    blocker = book(orp, ors.r2, at(11), 60, surgeon=orp.surgeon)
    # delaying the second into nothing: fine
    with pytest.raises(ResourceError) as info:
        operating.booking_reschedule(actor=orp.surgeon.user, booking=second, delay_minutes=30)
    assert info.value.status == 403
    moved = operating.booking_reschedule(actor=orp.or_hn.user, booking=second, delay_minutes=30)
    assert (moved.planned_start, moved.planned_end) == (at(11), at(12))
    # moving the first to OR-02 at 11:00: room taken by the blocker (surgeon 1 is on it too)
    err = refused(
        operating.booking_reschedule,
        actor=orp.anaes_head.user,
        booking=first,
        room="OR-02",
        delay_minutes=120,
    )
    assert (err.kind, err.conflict.pk) == ("room", blocker.pk)
    # to OR-02 at 9:00 is fine, by the anaesthesia head (coordinates the OR under 麻醉科)
    moved = operating.booking_reschedule(actor=orp.anaes_head.user, booking=first, room="OR-02")
    assert (moved.room.code, moved.planned_start) == ("OR-02", at(9))
    assert AuditEntry.objects.filter(action="resources.or.rescheduled").count() == 2


def test_a_running_case_past_its_end_still_holds_the_room(orp, ors):
    from django.utils import timezone

    now = timezone.now()
    b = book(orp, ors.r1, now - dt.timedelta(minutes=120), 60)
    operating.booking_decide(actor=orp.or_hn.user, booking=b, approve=True)
    operating.booking_status_set(actor=orp.or_nurse.user, booking=b, status="in_room")
    err = refused(book, orp, ors.r1, now + dt.timedelta(minutes=10), 60, surgeon=orp.surgeon2)
    assert (err.kind, err.conflict.pk) == ("turnover", b.pk)


def test_visit_number_links_the_encounter_and_its_initials(orp, ors, beds):
    from medoa.core.clinical.models import Encounter

    from .conftest import admit

    admit(mrn="MRN9", visit="V9")
    encounter = Encounter.objects.get(visit_number="V9")
    b = operating.booking_request(
        actor=orp.surgeon.user,
        room=ors.r1,
        patient_mrn="MRN9",
        visit_number="V9",
        procedure="阑尾切除术",
        surgeon=orp.surgeon,
        planned_start=at(9),
        duration_minutes=60,
    )
    assert (b.encounter_id, b.patient_initials) == (encounter.pk, encounter.patient.initials)
    assert b.patient_initials == "张*"
