from __future__ import annotations

import pytest
from django.test import Client

from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.modules.resources.beds_choices import BedStatus
from medoa.modules.resources.models import BedCleaning

from .conftest import admit

pytestmark = pytest.mark.django_db


def client_for(staff) -> Client:
    c = Client()
    c.force_login(staff.user)
    return c


def test_board_initials_only_and_state_etag(beds, people):
    admit()
    dispatch_until_idle()
    c = client_for(people.nurse)
    page = c.get("/resources/beds/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "张*" in html and "张三" not in html and "MRN1" not in html
    state = c.get("/resources/beds/state")
    assert state.status_code == 200
    etag = state["ETag"]
    assert c.get("/resources/beds/state", headers={"If-None-Match": etag}).status_code == 304
    admit("discharged")
    dispatch_until_idle()
    changed = c.get("/resources/beds/state", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert {b["id"]: b["status"] for b in changed.json()["beds"]}[beds["CARD-W1/01"].pk] == "to_clean"
    # history drawer, QR page
    assert (
        "MRN"
        not in client_for(people.cleaner)
        .get(f"/resources/beds/{beds['CARD-W1/01'].pk}/history")
        .content.decode()
    )
    qr = c.get(f"/resources/beds/{beds['CARD-W1/01'].pk}/qr")
    assert qr.status_code == 200 and b"<svg" in qr.content and b"/clean" in qr.content
    # another ward's nurse cannot open the bed
    assert (
        client_for(people.surg_nurse).get(f"/resources/beds/{beds['CARD-W1/01'].pk}/history").status_code
        == 404
    )


def test_phone_cleaning_pages(beds, people, deployed):
    admit()
    admit("discharged")
    dispatch_until_idle()
    bed = beds["CARD-W1/01"]
    c = client_for(people.cleaner)
    listing = c.get("/resources/cleaning/")
    assert listing.status_code == 200 and "301-01" in listing.content.decode()
    assert client_for(people.nurse).get(f"/resources/beds/{bed.pk}/clean").status_code == 403
    c.post(f"/resources/beds/{bed.pk}/clean", {"action": "start"})
    bed.refresh_from_db()
    assert bed.status == BedStatus.CLEANING
    c.post(f"/resources/beds/{bed.pk}/clean", {"action": "finish", "next": "list"})
    bed.refresh_from_db()
    assert bed.status == BedStatus.AVAILABLE
    assert BedCleaning.objects.get(bed=bed).finished_by == people.cleaner.user


def test_simulator_page_needs_it_and_checks_input(beds, people):
    assert client_for(people.nurse).get("/resources/simulate/").status_code == 403
    res = client_for(people.admin).post(
        "/resources/simulate/", {"discharges": "x", "critical": "1", "port": "2575"}
    )
    assert res.status_code == 422


def test_housekeeping_workbench_card(beds, people):
    from medoa.modules.resources.beds_cards import cleaning_card

    admit()
    admit("discharged")
    dispatch_until_idle()

    class Request:
        user = people.cleaner.user

    context = cleaning_card(Request())  # type: ignore[arg-type]
    assert context["total"] == 1 and context["cleanings"][0].bed == beds["CARD-W1/01"]
    home = client_for(people.cleaner).get("/")
    assert home.status_code == 200 and "待清洁床位" in home.content.decode()
