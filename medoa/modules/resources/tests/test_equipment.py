"""Expensive equipment: bookings with conflicts, status, utilisation."""

from __future__ import annotations

import pytest

from medoa.modules.resources import equipment as eq
from medoa.modules.resources.models_or import EquipmentBooking

from .test_or_support import *  # noqa: F403
from .test_or_support import at

pytestmark = pytest.mark.django_db


def test_booking_conflict_names_the_booking_and_ends_touch(orp, ors):
    first = eq.equipment_book(actor=orp.surgeon.user, equipment=ors.ct, start=at(9), end=at(10))
    with pytest.raises(eq.ResourceConflict) as info:
        eq.equipment_book(actor=orp.surgeon2.user, equipment=ors.ct, start=at(9, 30), end=at(10, 30))
    assert (info.value.kind, info.value.conflict.pk) == ("equipment", first.pk)
    assert f"E#{first.pk}" in info.value.message
    # back to back is fine (no buffer for devices)
    assert eq.equipment_book(actor=orp.surgeon2.user, equipment=ors.ct, start=at(10), end=at(11)).pk
    with pytest.raises(eq.ResourceError) as info:
        eq.equipment_book(actor=orp.surgeon.user, equipment=ors.ct, start=at(12), end=at(12))
    assert info.value.field == "end"
    with pytest.raises(eq.ResourceError) as info:
        eq.equipment_book(actor=orp.cleaner.user, equipment=ors.ct, start=at(12), end=at(13))
    assert info.value.status == 404  # housekeeping does not see the equipment calendar
    assert EquipmentBooking.objects.count() == 2


def test_status_maintenance_and_permissions(orp, ors):
    with pytest.raises(eq.ResourceError) as info:
        eq.equipment_status_set(actor=orp.surgeon.user, equipment=ors.ct, status="maintenance", note="x")
    assert info.value.status == 403
    with pytest.raises(eq.ResourceError) as info:
        eq.equipment_status_set(actor=orp.equip.user, equipment=ors.ct, status="maintenance")
    assert info.value.field == "note"
    with pytest.raises(eq.ResourceError) as info:
        eq.equipment_status_set(actor=orp.equip.user, equipment=ors.ct, status="broken")
    assert info.value.field == "status"
    eq.equipment_status_set(actor=orp.equip.user, equipment=ors.ct, status="maintenance", note="球管更换")
    with pytest.raises(eq.ResourceConflict) as info:
        eq.equipment_book(actor=orp.surgeon.user, equipment=ors.ct, start=at(9), end=at(10))
    assert info.value.kind == "maintenance"


def test_use_and_cancel(orp, ors):
    b = eq.equipment_book(actor=orp.surgeon.user, equipment=ors.ct, start=at(9), end=at(10))
    with pytest.raises(eq.ResourceError):
        eq.equipment_booking_cancel(actor=orp.surgeon2.user, booking=b)
    eq.equipment_booking_use(actor=orp.surgeon.user, booking=b, action="start")
    ors.ct.refresh_from_db()
    assert ors.ct.status == "in_use"
    eq.equipment_booking_use(actor=orp.equip.user, booking=b, action="finish")
    ors.ct.refresh_from_db()
    b.refresh_from_db()
    assert (ors.ct.status, b.status) == ("available", "done")
    c = eq.equipment_book(actor=orp.surgeon.user, equipment=ors.ct, start=at(11), end=at(12))
    assert eq.equipment_booking_cancel(actor=orp.surgeon.user, booking=c).status == "cancelled"


def test_utilisation_booked_and_used_over_available_hours(orp, ors):
    # CT available 08:00–20:00 (12 h/day)
    EquipmentBooking.objects.create(equipment=ors.ct, start=at(9), end=at(12))  # 3 h booked
    EquipmentBooking.objects.create(
        equipment=ors.ct, start=at(13), end=at(15), status="done", used_from=at(13), used_to=at(14, 30)
    )  # 2 h booked, 1.5 h used
    EquipmentBooking.objects.create(equipment=ors.ct, start=at(19), end=at(22))  # 1 h inside the window
    EquipmentBooking.objects.create(equipment=ors.ct, start=at(9), end=at(10), status="cancelled")
    day = at(0).date()
    rows = {u.equipment.code: u for u in eq.equipment_utilisation(user=orp.equip.user, first=day)}
    ct = rows["CT-01"]
    assert (ct.available_hours, ct.booked_hours, ct.used_hours) == (12.0, 6.0, 1.5)
    assert (ct.booked_ratio, ct.used_ratio) == (0.5, 0.125)
    week = {u.equipment.code: u for u in eq.equipment_utilisation(user=orp.equip.user, first=day, days=7)}
    assert (week["CT-01"].available_hours, week["CT-01"].booked_hours) == (84.0, 6.0)
    assert rows["VENT-01"].booked_hours == 0.0
