"""The API and the pages: scoping by role and department, who may act (403/404), the 422 for a
close without the action taken, the list with timeliness, the workbench card."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import Client

from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.services import publish
from medoa.core.org.tests.factories import TEST_PASSWORD
from medoa.modules.quality.models import CriticalAlert
from medoa.modules.quality.services import alert_ack, alerts_escalate

from .conftest import payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/quality/critical-values"


def receive(**overrides: object) -> CriticalAlert:
    data = payload(**overrides)
    with transaction.atomic():
        publish("clinical.critical_value.received", data, key=f"t:{data['observation_id']}")
    dispatch_until_idle()
    return CriticalAlert.objects.get(observation_id=data["observation_id"])


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["items"]}


def test_list_is_scoped_by_role_and_department(hospital, api_as):
    card = receive()
    surg = receive(department="SURG", ward="", attending_doctor="")
    assert ids(api_as(hospital.doctor).get(URL)) == {card.pk}
    assert ids(api_as(hospital.other_doctor).get(URL)) == set()
    assert ids(api_as(hospital.head).get(URL)) == {card.pk}
    assert ids(api_as(hospital.nurse_head).get(URL)) == {card.pk}
    assert ids(api_as(hospital.surg_head).get(URL)) == {surg.pk}
    assert ids(api_as(hospital.medical).get(URL)) == {card.pk, surg.pk}
    assert ids(api_as(hospital.quality).get(URL)) == {card.pk, surg.pk}
    assert ids(api_as(hospital.quality).get(URL, {"status": "closed"})) == set()
    assert ids(api_as(hospital.quality).get(URL, {"status": "open"})) == {card.pk, surg.pk}
    bad = api_as(hospital.quality).get(URL, {"status": "nonsense"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    assert api_as(None).get(URL).status_code == 401
    item = api_as(hospital.doctor).get(URL).json()["items"][0]
    assert (item["responsible"], item["routed_to"], item["may_act"], item["flag"]) == (
        "dr_li",
        "attending",
        True,
        "HH",
    )
    assert api_as(hospital.quality).get(URL).json()["items"][0]["may_act"] is False


def test_ack_and_close_permissions_and_validation(hospital, api_as):
    alert = receive()
    ack = f"{URL}/{alert.pk}/ack"
    close = f"{URL}/{alert.pk}/close"
    assert api_as(hospital.other_doctor).post(ack).status_code == 404
    assert api_as(hospital.surg_head).post(ack).status_code == 404
    assert api_as(hospital.head).post(ack).status_code == 403
    assert api_as(hospital.quality).post(ack).status_code == 403
    r = api_as(hospital.doctor).post(ack)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "acknowledged" and body["timely"] is True and body["acknowledged_by"] == "dr_li"
    empty = api_as(hospital.doctor).post(close, {"action_taken": "  "}, content_type="application/json")
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "action_taken"
    assert (
        api_as(hospital.head).post(close, {"action_taken": "x"}, content_type="application/json").status_code
        == 403
    )
    done = api_as(hospital.doctor).post(
        close, {"action_taken": "已复查，予降钾处理"}, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["status"] == "closed"
    assert done.json()["action_taken"] == "已复查，予降钾处理"
    again = api_as(hospital.doctor).post(close, {"action_taken": "again"}, content_type="application/json")
    assert again.status_code == 409
    assert api_as(hospital.doctor).get(f"{URL}/{alert.pk}").json()["closed_by"] == "dr_li"


def test_the_escalated_department_head_may_act(hospital, api_as, settings):
    settings.MEDOA_CRITICAL_ACK_MINUTES = 1
    alert = receive()
    alerts_escalate(now=alert.notified_at + dt.timedelta(minutes=2))
    r = api_as(hospital.head).post(f"{URL}/{alert.pk}/ack")
    assert r.status_code == 200 and r.json()["timely"] is False and r.json()["escalation_level"] == 1
    assert ids(api_as(hospital.head).get(URL, {"mine": True})) == {alert.pk}


def login(client: Client, staff) -> Client:
    assert client.login(username=staff.user.username, password=TEST_PASSWORD)
    return client


def test_pages_alert_ack_close_list_and_card(hospital, settings):
    settings.MEDOA_CRITICAL_ACK_MINUTES = 1
    alert = receive()
    late = receive(observation_id=99999, test_code="GLU", test_name="血糖", value="1.8", flag="LL")
    alerts_escalate(now=late.notified_at + dt.timedelta(minutes=2))  # both are now escalated
    doctor = login(Client(), hospital.doctor)
    home = doctor.get("/")
    assert home.status_code == 200
    assert "crit-card" in home.content.decode() and "血钾" in home.content.decode()
    page = doctor.get(f"/quality/critical-values/{alert.pk}/")
    assert page.status_code == 200 and 'id="crit-ack"' in page.content.decode()
    assert doctor.post(f"/quality/critical-values/{alert.pk}/ack/").status_code == 302
    bad = doctor.post(f"/quality/critical-values/{alert.pk}/close/", {"action_taken": ""})
    assert bad.status_code == 422
    ok = doctor.post(f"/quality/critical-values/{alert.pk}/close/", {"action_taken": "已处理"})
    assert ok.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "closed"
    other = login(Client(), hospital.other_doctor)
    assert other.get(f"/quality/critical-values/{alert.pk}/").status_code == 404
    assert other.post(f"/quality/critical-values/{late.pk}/ack/").status_code == 404
    head = login(Client(), hospital.head)
    assert head.get(f"/quality/critical-values/{alert.pk}/").status_code == 200
    qc = login(Client(), hospital.quality)
    listing = qc.get("/quality/critical-values/")
    text = listing.content.decode()
    assert listing.status_code == 200 and "crit-timeliness" in text
    # one of two acknowledged late (escalated) → 0 of 2 in time
    assert 'id="crit-rate-total">0.0%' in text
    assert qc.get("/quality/critical-limits/").status_code == 200
    assert doctor.get("/quality/critical-limits/").status_code == 403
    saved = qc.post(
        "/quality/critical-limits/",
        {"department": str(hospital.card.pk), "test_code": "K", "ack_minutes": "5", "escalate_minutes": "5"},
    )
    assert saved.status_code == 302
    refused = qc.post(
        "/quality/critical-limits/",
        {"department": "", "test_code": "", "ack_minutes": "5", "escalate_minutes": "5"},
    )
    assert refused.status_code == 422


def test_timeliness_rate(hospital, settings):
    from medoa.modules.quality.selectors import timeliness

    settings.MEDOA_CRITICAL_ACK_MINUTES = 1
    a = receive()
    b = receive()
    c = receive()
    alert_ack(actor=hospital.doctor.user, alert=a)  # in time
    alerts_escalate(now=b.notified_at + dt.timedelta(minutes=2))  # b and c escalated
    alert_ack(actor=hospital.doctor.user, alert=b)  # late
    CriticalAlert.objects.filter(pk=c.pk).update(ack_due_at=c.notified_at - dt.timedelta(seconds=1))
    d = receive()  # still within its limit: pending
    rows, total = timeliness(hospital.quality.user)
    [card] = rows
    assert (card.total, card.decided, card.timely, card.late, card.pending) == (4, 3, 1, 2, 1)
    assert card.rate == 33.3 and total.rate == 33.3
    assert d.pk
