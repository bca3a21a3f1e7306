"""The bookings API: list by resource and date, create (409 naming the conflicting booking, 422
with the field), approve/reject/status/reschedule, equipment status and utilisation — with
permission matrices."""

from __future__ import annotations

import pytest

from medoa.modules.resources.models_or import ORBooking

from .test_or_support import *  # noqa: F403
from .test_or_support import at

pytestmark = pytest.mark.django_db
URL = "/api/v1/resources/bookings"
J = "application/json"


def _case(**extra):
    body = {
        "resource": "OR-01",
        "start": at(9).isoformat(),
        "duration_minutes": 90,
        "patient_mrn": "MRN7",
        "patient_initials": "王*",
        "procedure": "阑尾切除术",
        "surgeon": "surg1",
        "anaesthetist": "anaes1",
        "equipment": ["CARM-01"],
    }
    body.update(extra)
    return body


def test_create_and_conflict_409_names_the_booking(orp, ors, api_as):
    assert api_as(None).post(URL, _case(), content_type=J).status_code == 401
    res = api_as(orp.cleaner).post(URL, _case(), content_type=J)
    assert res.status_code == 403
    res = api_as(orp.surgeon).post(URL, _case(), content_type=J)
    assert res.status_code == 201, res.content
    first = res.json()
    assert (first["kind"], first["resource"], first["status"], first["equipment"]) == (
        "or",
        "OR-01",
        "requested",
        ["CARM-01"],
    )
    assert first["patient_mrn"] == "MRN7" and first["surgeon"]["username"] == "surg1"
    # the same room at 10:00 by another team: 409 naming #first
    res = api_as(orp.surgeon2).post(
        URL,
        _case(start=at(10).isoformat(), surgeon="surg2", anaesthetist="anaes2", equipment=[]),
        content_type=J,
    )
    assert res.status_code == 409
    body = res.json()
    assert body["conflict"]["kind"] == "room"
    assert (body["conflict"]["booking_kind"], body["conflict"]["id"]) == ("or", first["id"])
    assert f"#{first['id']}" in body["detail"]
    # the device in another room
    res = api_as(orp.surgeon2).post(
        URL, _case(resource="OR-02", surgeon="surg2", anaesthetist="anaes2"), content_type=J
    )
    assert res.status_code == 409 and res.json()["conflict"]["kind"] == "equipment"
    assert res.json()["conflict"]["or_booking"] == first["id"]
    # bad input names the field
    res = api_as(orp.surgeon2).post(URL, _case(resource="OR-02", duration_minutes=1), content_type=J)
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "duration_minutes"
    res = api_as(orp.surgeon2).post(URL, _case(resource="OR-02", surgeon="nobody"), content_type=J)
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "surgeon"
    assert ORBooking.objects.count() == 1


def test_equipment_booking_through_the_same_endpoint(orp, ors, api_as):
    body = {"resource": "CT-01", "start": at(9).isoformat(), "end": at(9, 30).isoformat(), "purpose": "增强"}
    res = api_as(orp.surgeon).post(URL, body, content_type=J)
    assert res.status_code == 201 and res.json()["kind"] == "equipment"
    first = res.json()["id"]
    res = api_as(orp.surgeon2).post(URL, {**body, "start": at(9, 15).isoformat()}, content_type=J)
    assert res.status_code == 409
    assert (res.json()["conflict"]["booking_kind"], res.json()["conflict"]["id"]) == ("equipment", first)


def test_list_by_resource_and_date_with_patient_fields_by_role(orp, ors, api_as):
    api_as(orp.surgeon).post(URL, _case(), content_type=J)
    api_as(orp.surgeon2).post(
        URL,
        {"resource": "CT-01", "start": at(14).isoformat(), "duration_minutes": 30, "patient_mrn": "X"},
        content_type=J,
    )
    day = at(0).date().isoformat()
    got = api_as(orp.or_nurse).get(URL, {"date": day}).json()
    assert [(b["kind"], b["resource"]) for b in got["bookings"]] == [("or", "OR-01"), ("equipment", "CT-01")]
    assert got["bookings"][0]["patient_mrn"] == "MRN7"  # OR staff of the room
    got = api_as(orp.surgeon2).get(URL, {"date": day, "resource": "OR-01"}).json()
    assert got["count"] == 1 and "patient_mrn" not in got["bookings"][0]  # not on the team
    got = api_as(orp.surgeon).get(URL, {"date": day, "resource": "CARM-01"}).json()
    assert [(b["kind"], b["or_booking"]) for b in got["bookings"]] == [
        ("equipment", got["bookings"][0]["or_booking"])
    ]
    assert api_as(orp.surgeon).get(URL, {"date": "tomorrow"}).json()["errors"][0]["field"] == "date"
    assert api_as(orp.surgeon).get(URL, {"resource": "NOPE"}).json()["errors"][0]["field"] == "resource"
    assert api_as(orp.cleaner).get(URL).status_code == 403
    assert api_as(orp.surgeon).get(URL, {"date": at(0, days=3).date().isoformat()}).json()["count"] == 0


def test_approve_status_reschedule_matrix(orp, ors, api_as):
    bid = api_as(orp.surgeon).post(URL, _case(equipment=[]), content_type=J).json()["id"]
    url = f"{URL}/{bid}"
    assert api_as(orp.surgeon).post(f"{url}/approve", {}, content_type=J).status_code == 403
    assert api_as(orp.ward_hn).post(f"{url}/approve", {}, content_type=J).status_code == 404
    assert api_as(orp.or_hn).post(f"{url}/reject", {}, content_type=J).json()["errors"][0]["field"] == "note"
    res = api_as(orp.or_hn).post(f"{url}/approve", {}, content_type=J)
    assert res.status_code == 200 and res.json()["status"] == "approved"
    assert api_as(orp.or_hn).post(f"{url}/approve", {}, content_type=J).status_code == 409
    res = api_as(orp.or_nurse).post(f"{url}/reschedule", {"delay_minutes": 30}, content_type=J)
    assert res.status_code == 403
    res = api_as(orp.or_hn).post(f"{url}/reschedule", {"delay_minutes": 30}, content_type=J)
    assert res.status_code == 200 and res.json()["start"] == at(9, 30).isoformat()
    res = api_as(orp.or_nurse).post(f"{url}/status", {"status": "incision"}, content_type=J)
    assert res.status_code == 409 and res.json()["errors"][0]["field"] == "status"
    assert (
        api_as(orp.surgeon2).post(f"{url}/status", {"status": "in_room"}, content_type=J).status_code == 403
    )
    res = api_as(orp.or_nurse).post(f"{url}/status", {"status": "in_room"}, content_type=J)
    assert res.status_code == 200 and res.json()["in_room_at"]
    assert api_as(orp.or_nurse).post(f"{url}/status", {"status": "lunch"}, content_type=J).status_code == 422


def test_equipment_status_and_utilisation_matrix(orp, ors, api_as):
    url = "/api/v1/resources/equipment/CT-01/status"
    assert (
        api_as(orp.surgeon).post(url, {"status": "maintenance", "note": "x"}, content_type=J).status_code
        == 403
    )
    res = api_as(orp.equip).post(url, {"status": "maintenance", "note": "球管"}, content_type=J)
    assert res.status_code == 200 and res.json()["status"] == "maintenance"
    util = "/api/v1/resources/equipment/utilisation"
    assert api_as(orp.surgeon).get(util).status_code == 403
    got = api_as(orp.equip).get(util, {"days": 7}).json()
    assert got["days"] == 7 and {e["code"] for e in got["equipment"]} == {"CT-01", "CARM-01", "VENT-01"}
    assert api_as(orp.equip).get(util, {"days": 90}).status_code == 422
