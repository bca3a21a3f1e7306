from __future__ import annotations

import pytest

from medoa.core.audit.models import AuditEntry
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.modules.resources.models import BedHistory

from .conftest import admit

pytestmark = pytest.mark.django_db
URL = "/api/v1/resources/beds"


def test_list_permission_matrix_and_patient_fields(beds, people, api_as):
    admit()
    dispatch_until_idle()
    assert api_as(None).get(URL).status_code == 401
    # wrong department: the surgery nurse sees only her ward's beds
    got = api_as(people.surg_nurse).get(URL).json()
    assert {b["ward"] for b in got["beds"]} == {"SURG-W1"}
    # the ward's nurse sees the occupant in full
    got = api_as(people.nurse).get(URL, {"ward": "CARD-W1", "status": "occupied"}).json()
    assert got["count"] == 1
    bed = got["beds"][0]
    assert (
        bed["bed"],
        bed["status"],
        bed["patient_initials"],
        bed["mrn"],
        bed["visit_number"],
        bed["attending"],
    ) == ("01", "occupied", "张*", "MRN1", "V1", "doc1")
    # housekeeping sees every ward, but initials only
    got = api_as(people.cleaner).get(URL, {"ward": "CARD-W1", "status": "occupied"}).json()
    assert got["beds"][0]["patient_initials"] == "张*" and "mrn" not in got["beds"][0]
    # bad filters are named
    res = api_as(people.nurse).get(URL, {"status": "dirty"})
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "status"
    res = api_as(people.nurse).get(URL, {"ward": "NOPE"})
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "ward"


def test_status_changes_matrix(beds, people, api_as):
    admit()
    dispatch_until_idle()
    free = beds["CARD-W1/02"]
    url = f"{URL}/{free.pk}/status"
    before = BedHistory.objects.count()
    assert api_as(None).post(url, {"status": "reserved"}, content_type="application/json").status_code == 401
    assert (
        api_as(people.surg_nurse)
        .post(url, {"status": "reserved", "reason": "x"}, content_type="application/json")
        .status_code
        == 404
    )
    assert (
        api_as(people.cleaner)
        .post(url, {"status": "reserved", "reason": "x"}, content_type="application/json")
        .status_code
        == 403
    )
    assert BedHistory.objects.count() == before
    res = api_as(people.head_nurse).post(
        url, {"status": "reserved", "reason": "急诊待入"}, content_type="application/json"
    )
    assert res.status_code == 200 and res.json()["status"] == "reserved"
    assert AuditEntry.objects.filter(action="resources.bed.status_changed").count() == 1
    # an occupied bed cannot be changed by hand: 409 naming both statuses
    occupied = beds["CARD-W1/01"]
    res = api_as(people.head_nurse).post(
        f"{URL}/{occupied.pk}/status", {"status": "available"}, content_type="application/json"
    )
    assert res.status_code == 409
    assert res.json()["errors"][0]["field"] == "status"
    assert "占用" in res.json()["errors"][0]["message"]
    res = api_as(people.head_nurse).post(url, {"status": "bogus"}, content_type="application/json")
    assert res.status_code == 422
    hist = api_as(people.head_nurse).get(f"{URL}/{free.pk}/history").json()
    assert [h["to"] for h in hist["history"]] == ["reserved"]


def test_ward_settings(beds, people, api_as):
    url = "/api/v1/resources/wards/CARD-W1/settings"
    assert (
        api_as(people.nurse).put(url, {"cleaning_minutes": 45}, content_type="application/json").status_code
        == 403
    )
    res = api_as(people.head_nurse).put(url, {"cleaning_minutes": 2}, content_type="application/json")
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "cleaning_minutes"
    res = api_as(people.head_nurse).put(url, {"cleaning_minutes": 45}, content_type="application/json")
    assert res.json() == {"ward": "CARD-W1", "cleaning_minutes": 45, "housekeeping_area": ""}
    assert (
        api_as(people.surg_nurse)
        .put(url, {"cleaning_minutes": 45}, content_type="application/json")
        .status_code
        == 404
    )
