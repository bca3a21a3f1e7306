"""Setting up a ward's beds: a range added all or nothing, a used bed kept, who may do it, the
API's errors, and the page a head nurse uses (reached from the bed board)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import translation

from medoa.core.audit.models import AuditEntry
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.modules.resources import beds_admin
from medoa.modules.resources.models import Bed, Room
from medoa.modules.resources.services import BedConflict, BedError

from .conftest import admit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    """Messages matched in English (the pages' Chinese is the catalog's)."""
    with translation.override("en"):
        yield


def client_for(staff: Any) -> Client:
    c = Client()
    c.force_login(staff.user)
    return c


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("01-03", ["01", "02", "03"]),
        ("8-11", ["8", "9", "10", "11"]),
        ("01, 02，05、12+", ["01", "02", "05", "12+"]),
        ("A1 A2", ["A1", "A2"]),
    ],
)
def test_codes_read_as_a_head_nurse_writes_them(text: str, codes: list[str]) -> None:
    assert beds_admin.parse_bed_codes(text) == codes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Name the beds"),
        ("05-01", "runs backwards"),
        ("01,01", "Named twice"),
        ("床1", "not a bed code"),
        ("1-500", "At most"),
    ],
)
def test_bad_codes_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(BedError, match=message) as info:
        beds_admin.parse_bed_codes(text)
    assert info.value.field == "codes"


def test_head_nurse_adds_a_room_of_beds_and_removes_one(hospital: Any, people: Any) -> None:
    made = beds_admin.beds_add(actor=people.head_nurse.user, ward=hospital.ward, room="302", codes="04-06")
    assert [b.code for b in made] == ["04", "05", "06"]
    assert Room.objects.filter(ward=hospital.ward, code="302").count() == 1
    assert all(b.status == "available" for b in made)
    entry = AuditEntry.objects.get(action="resources.beds.added")
    assert entry.details["beds"] == ["04", "05", "06"] and entry.details["room"] == "302"

    beds_admin.bed_remove(actor=people.head_nurse.user, bed=made[0])
    assert not Bed.objects.filter(pk=made[0].pk).exists()
    assert AuditEntry.objects.filter(action="resources.bed.removed").count() == 1
    # the room goes with its last bed
    for bed in made[1:]:
        beds_admin.bed_remove(actor=people.head_nurse.user, bed=bed)
    assert not Room.objects.filter(ward=hospital.ward, code="302").exists()


def test_a_code_the_ward_has_refuses_the_whole_range(hospital: Any, people: Any, beds: Any) -> None:
    with pytest.raises(BedConflict, match="03"):
        beds_admin.beds_add(actor=people.head_nurse.user, ward=hospital.ward, room="301", codes="02-04")
    assert Bed.objects.filter(ward=hospital.ward).count() == 3  # nothing of 02-04 was written
    assert not AuditEntry.objects.filter(action="resources.beds.added").exists()
    # another ward may use the same codes
    beds_admin.beds_add(actor=people.logistics.user, ward=hospital.sward, room="401", codes="04")


def test_an_occupied_or_cleaned_bed_stays(hospital: Any, people: Any, beds: Any, deployed: None) -> None:
    admit()
    dispatch_until_idle()
    with pytest.raises(BedConflict, match="free"):
        beds_admin.bed_remove(actor=people.head_nurse.user, bed=beds["CARD-W1/01"])
    admit("discharged")
    dispatch_until_idle()
    bed = Bed.objects.get(pk=beds["CARD-W1/01"].pk)
    bed.status = "available"  # cleaned since; its cleaning record remains
    bed.save()
    with pytest.raises(BedConflict, match="cleaning records"):
        beds_admin.bed_remove(actor=people.head_nurse.user, bed=bed)


def test_only_the_wards_own_head_nurse_or_the_offices(hospital: Any, people: Any) -> None:
    with pytest.raises(PermissionDenied):
        beds_admin.beds_add(actor=people.nurse.user, ward=hospital.ward, room="302", codes="01")
    with pytest.raises((PermissionDenied, BedError)):
        beds_admin.beds_add(actor=people.head_nurse.user, ward=hospital.sward, room="302", codes="01")
    with pytest.raises(BedError, match="not one"):
        beds_admin.beds_add(actor=people.logistics.user, ward=hospital.card, room="302", codes="01")
    assert not Bed.objects.exists()


def test_api_adds_and_removes_with_precise_errors(hospital: Any, people: Any, beds: Any, api_as: Any) -> None:
    api = api_as(people.head_nurse)
    url = "/api/v1/resources/wards/CARD-W1/beds"
    created = api.post(
        url, {"room": "303", "codes": "07-08", "bed_type": "monitored"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    assert [b["code"] for b in created.json()] == ["07", "08"]
    assert Bed.objects.get(ward=hospital.ward, code="07").bed_type == "monitored"
    clash = api.post(url, {"room": "303", "codes": "08-09"}, content_type="application/json")
    assert clash.status_code == 409 and "08" in clash.json()["detail"]
    bad = api.post(url, {"room": "3 03", "codes": "10"}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "room"
    bad_type = api.post(
        url, {"room": "303", "codes": "10", "bed_type": "sofa"}, content_type="application/json"
    )
    assert bad_type.status_code == 422 and bad_type.json()["errors"][0]["field"] == "bed_type"
    assert (
        api_as(people.nurse)
        .post(url, {"room": "303", "codes": "10"}, content_type="application/json")
        .status_code
        == 403
    )
    assert (
        api_as(people.surg_nurse)
        .post(url, {"room": "303", "codes": "10"}, content_type="application/json")
        .status_code
        == 404
    )
    bed_id = created.json()[0]["id"]
    assert api_as(people.nurse).delete(f"/api/v1/resources/beds/{bed_id}").status_code == 403
    assert api.delete(f"/api/v1/resources/beds/{bed_id}").status_code == 204
    assert api.delete(f"/api/v1/resources/beds/{bed_id}").status_code == 404


def test_the_page_from_the_board(hospital: Any, people: Any, beds: Any) -> None:
    c = client_for(people.head_nurse)
    board = c.get("/resources/beds/").content.decode()
    assert "/resources/wards/beds/" in board  # the "set up beds" picker
    assert c.get("/resources/wards/beds/?ward=CARD-W1")["Location"] == "/resources/wards/CARD-W1/beds/"
    page = c.get("/resources/wards/CARD-W1/beds/")
    assert page.status_code == 200 and "301-01" in page.content.decode()
    added = c.post(
        "/resources/wards/CARD-W1/beds/",
        {"action": "add", "room": "305", "codes": "20-21", "bed_type": "standard"},
    )
    assert added.status_code == 302
    assert Bed.objects.filter(ward=hospital.ward, room__code="305").count() == 2
    refused = c.post(
        "/resources/wards/CARD-W1/beds/",
        {"action": "add", "room": "305", "codes": "21", "bed_type": "standard"},
    )
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "21" in html and 'value="305"' in html  # the reason, and the input kept
    saved = c.post(
        "/resources/wards/CARD-W1/beds/", {"action": "settings", "cleaning_minutes": "45", "area": "LOGI"}
    )
    assert saved.status_code == 302
    assert (
        c.post("/resources/wards/CARD-W1/beds/", {"action": "settings", "cleaning_minutes": "x"}).status_code
        == 422
    )
    # a nurse, and another ward's head nurse, do not get the page
    assert client_for(people.nurse).get("/resources/wards/CARD-W1/beds/").status_code == 404
    assert "/resources/wards/beds/" not in client_for(people.nurse).get("/resources/beds/").content.decode()
    assert c.get("/resources/wards/SURG-W1/beds/").status_code == 404
