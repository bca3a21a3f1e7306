"""The HL7 pages: who may see them (it, sys_admin), search and counters, one message highlighted,
reprocess (audited, only unmapped/failed), code mappings (suggested from parked messages; saving
one reprocesses what waited for it) and the MLLP sender allow-list."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.grants import sync_role_grants
from medoa.core.audit.models import AuditEntry
from medoa.core.clinical.models import CodeMapping, Encounter
from medoa.core.org.tests.factories import staff_with_roles
from medoa.integration.hl7.models import Message, Sender
from medoa.integration.hl7.processing import process_until_idle
from medoa.integration.hl7.views import render_segments

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
A01 = "\r".join(
    [
        "MSH|^~\\&|HIS|DEMO_HOSPITAL|MEDOA|MEDOA|20261126101500||ADT^A01|c1|P|2.5",
        "EVN|A01|20261126101400",
        "PID|1||MRN9^^^HIS^MR||王^五||19800101|M",
        "PV1|1|I|HISW7^501^12",
    ]
)


@pytest.fixture
def people(db: Any, department_factory: Any) -> SimpleNamespace:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    ward = department_factory(code="W1", name_zh="心内一病区", name_en="Ward 1", parent=root, kind="ward")

    def person(username: str, *codes: str) -> Any:
        return staff_with_roles(*codes, department=ward, root=root, totp_secret=TOTP, user__username=username)

    return SimpleNamespace(
        admin=person("admin_sun", "sys_admin"), it=person("it_zhou", "it"), nurse=person("nurse_li", "nurse")
    )


@pytest.fixture
def unmapped(people: SimpleNamespace) -> Message:
    msg = Message.objects.create(
        transport="mllp",
        sending_application="HIS",
        sending_facility="DEMO_HOSPITAL",
        control_id="c1",
        message_type="ADT",
        trigger_event="A01",
        patient_id="MRN9",
        raw=A01,
    )
    process_until_idle()
    msg.refresh_from_db()
    assert msg.status == "unmapped"
    return msg


def as_(client: Client, staff: Any) -> Client:
    client.force_login(staff.user)
    return client


@pytest.mark.parametrize(
    ("who", "url", "status"),
    [
        ("nurse", "/integration/hl7/", 403),
        ("it", "/integration/hl7/", 200),
        ("admin", "/integration/hl7/", 200),
        ("nurse", "/integration/hl7/mappings/", 403),
        ("it", "/integration/hl7/mappings/", 200),
        ("nurse", "/integration/hl7/senders/", 403),
        ("admin", "/integration/hl7/senders/", 200),
    ],
)
def test_pages_need_their_permission(
    client: Client, people: SimpleNamespace, who: str, url: str, status: int
) -> None:
    assert as_(client, getattr(people, who)).get(url).status_code == status


def test_anonymous_is_sent_to_sign_in(client: Client, db: Any) -> None:
    response = client.get("/integration/hl7/")
    assert response.status_code == 302


def test_search_and_counters(client: Client, people: SimpleNamespace, unmapped: Message) -> None:
    c = as_(client, people.it)
    page = c.get("/integration/hl7/", {"status": "unmapped", "patient_id": "MRN9", "type": "ADT^A01"})
    body = page.content.decode()
    assert page.status_code == 200
    assert f'data-message="{unmapped.pk}"' in body
    assert 'data-sender="HIS|DEMO_HOSPITAL"' in body
    assert 'data-count="day">1<' in body
    assert page.context["status_counts"] == {"received": 0, "unmapped": 1, "error": 0}
    assert c.get("/integration/hl7/", {"status": "processed"}).content.decode().count("data-message=") == 0
    assert c.get("/integration/hl7/", {"type": "ORU"}).content.decode().count("data-message=") == 0


def test_detail_highlights_fields_and_offers_the_mapping(
    client: Client, people: SimpleNamespace, unmapped: Message
) -> None:
    body = as_(client, people.it).get(f"/integration/hl7/messages/{unmapped.pk}/").content.decode()
    assert 'title="PID-3"' in body
    assert 'title="PID-3.1"' in body
    assert 'title="MSH-9"' in body
    assert 'title="PV1-3.1"' in body
    assert "external_code=HISW7" in body
    assert 'id="reprocess"' in body


def test_render_segments_labels_msh_fields() -> None:
    segments, truncated = render_segments(A01)
    msh = segments[0]
    assert [f.label for f in msh.fields[:3]] == ["MSH-1", "MSH-2", "MSH-3"]
    assert msh.fields[8].label == "MSH-9"
    assert [p.text for p in msh.fields[8].parts] == ["ADT", "A01"]
    assert not truncated


def test_reprocess_is_audited_and_refused_for_processed(
    client: Client, people: SimpleNamespace, unmapped: Message
) -> None:
    c = as_(client, people.it)
    response = c.post(f"/integration/hl7/messages/{unmapped.pk}/reprocess/")
    assert response.status_code == 302
    unmapped.refresh_from_db()
    assert unmapped.status == "received"
    assert AuditEntry.objects.filter(action="hl7.message.reprocessed").count() == 1
    Message.objects.filter(pk=unmapped.pk).update(status="processed")
    c.post(f"/integration/hl7/messages/{unmapped.pk}/reprocess/")
    unmapped.refresh_from_db()
    assert unmapped.status == "processed"
    assert AuditEntry.objects.filter(action="hl7.message.reprocessed").count() == 1


def test_nurse_may_not_reprocess(client: Client, people: SimpleNamespace, unmapped: Message) -> None:
    assert (
        as_(client, people.nurse).post(f"/integration/hl7/messages/{unmapped.pk}/reprocess/").status_code
        == 403
    )
    unmapped.refresh_from_db()
    assert unmapped.status == "unmapped"


def test_mapping_page_suggests_and_saving_reprocesses(
    client: Client, people: SimpleNamespace, unmapped: Message
) -> None:
    c = as_(client, people.it)
    body = c.get("/integration/hl7/mappings/").content.decode()
    assert 'data-unmapped="ward:HISW7"' in body
    bad = c.post(
        "/integration/hl7/mappings/new/",
        {"kind": "ward", "facility": "*", "external_code": "HISW7", "internal_code": "NOPE"},
    )
    assert bad.status_code == 400
    assert not CodeMapping.objects.exists()
    ok = c.post(
        "/integration/hl7/mappings/new/",
        {"kind": "ward", "facility": "*", "external_code": "HISW7", "internal_code": "W1"},
    )
    assert ok.status_code == 302
    unmapped.refresh_from_db()
    assert unmapped.status == "received"
    process_until_idle()
    unmapped.refresh_from_db()
    assert unmapped.status == "processed"
    assert Encounter.objects.get().ward_code == "W1"
    assert "HISW7" not in c.get("/integration/hl7/mappings/").content.decode().split('id="mappings"')[0]


def test_sender_allow_list(client: Client, people: SimpleNamespace) -> None:
    c = as_(client, people.admin)
    bad = c.post(
        "/integration/hl7/senders/new/",
        {"name": "LIS", "address": "not-an-ip", "facility": "*", "scopes": "hl7:oru", "enabled": "on"},
    )
    assert bad.status_code == 400
    assert not Sender.objects.exists()
    ok = c.post(
        "/integration/hl7/senders/new/",
        {
            "name": "LIS",
            "address": "10.1.0.0/16",
            "facility": "LAB",
            "scopes": "hl7:oru, hl7:adt",
            "enabled": "on",
        },
    )
    assert ok.status_code == 302
    sender = Sender.objects.get()
    assert (sender.address, sender.facility, sender.scopes, sender.enabled) == (
        "10.1.0.0/16",
        "LAB",
        ["hl7:oru", "hl7:adt"],
        True,
    )
    assert AuditEntry.objects.filter(action="hl7.sender.saved").count() == 1
    c.post(f"/integration/hl7/senders/{sender.pk}/delete/")
    assert not Sender.objects.exists()
