"""公文流转 pages: the documents sent to my department, reading one, marking it read for my
department (the first reader counts), the receipts for those who may see the request, the
attachments; nobody else sees the document."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.audit.models import AuditEntry
from medoa.modules.approvals.models import ApprovalRequest, DocumentReceipt

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit, upload

pytestmark = pytest.mark.django_db


def login(username: str, password: str) -> Client:
    client = Client()
    assert client.login(username=username, password=password)
    return client


@pytest.fixture
def circulated(people: SimpleNamespace, media: Any) -> ApprovalRequest:
    install(people, "document")
    request = submit(
        people.equipment,
        "document",
        {
            "title": "关于大型医用设备年度检测的通知",
            "doc_number": "设备〔2026〕3号",
            "body": "请各科室配合完成年度检测。",
            "attachment": [upload(people.equipment, "schedule.pdf")],
            "sign_off_by": "vice_dean",
            "recipients": [{"department": "CARD"}, {"department": "SURG"}],
        },
    )
    decide_all(request)
    assert request.status == "approved"
    return request


def test_recipients_list_and_read_the_document(
    people: SimpleNamespace, circulated: ApprovalRequest, password: str
) -> None:
    nurse = login("nurse", password)  # of 心内一病区, below 心血管内科

    listing = nurse.get("/approvals/documents/")
    page = nurse.get(f"/approvals/documents/{circulated.pk}/")

    assert listing.status_code == 200 and "关于大型医用设备年度检测的通知" in listing.content.decode()
    assert page.status_code == 200
    body = page.content.decode()
    assert "请各科室配合完成年度检测。" in body and 'id="mark-read"' in body and "schedule.pdf" in body
    assert 'id="document-receipts"' not in body  # a reader does not see other departments' receipts


def test_marking_read_records_the_first_reader_of_the_department(
    people: SimpleNamespace, circulated: ApprovalRequest, password: str
) -> None:
    nurse = login("nurse", password)
    doctor = login("doctor", password)

    assert nurse.post(f"/approvals/documents/{circulated.pk}/read/").status_code == 302
    assert doctor.post(f"/approvals/documents/{circulated.pk}/read/").status_code == 302

    card = DocumentReceipt.objects.get(request=circulated, department__code="CARD")
    surgery = DocumentReceipt.objects.get(request=circulated, department__code="SURG")
    assert card.read_by == people.nurse and card.read_at is not None
    assert surgery.read_at is None
    assert AuditEntry.objects.filter(action="approvals.document.read").count() == 1


def test_the_initiator_sees_every_receipt(
    people: SimpleNamespace, circulated: ApprovalRequest, password: str
) -> None:
    login("surgeon", password).post(f"/approvals/documents/{circulated.pk}/read/")

    page = login("equipment", password).get(f"/approvals/documents/{circulated.pk}/")

    body = page.content.decode()
    assert page.status_code == 200 and 'id="document-receipts"' in body
    assert "孙医生" in body  # 普外科 read it
    assert 'id="mark-read"' not in body  # 设备科 was not a recipient


@pytest.mark.parametrize("who", ["finance", "education"])  # hr sees every request (approvals.request.view)
def test_others_get_not_found(
    people: SimpleNamespace, circulated: ApprovalRequest, password: str, who: str
) -> None:
    client = login(who, password)

    assert client.get(f"/approvals/documents/{circulated.pk}/").status_code == 404
    assert client.post(f"/approvals/documents/{circulated.pk}/read/").status_code == 404
    assert client.get("/approvals/documents/").content.decode().count("关于大型医用设备年度检测的通知") == 0
    assert not DocumentReceipt.objects.filter(read_at__isnull=False).exists()


def test_a_recipient_downloads_the_attachment(
    people: SimpleNamespace, circulated: ApprovalRequest, password: str
) -> None:
    file_id = circulated.data["attachment"][0]
    client = login("surgeon", password)

    response = client.get(f"/approvals/documents/{circulated.pk}/files/{file_id}/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert (
        login("finance", password).get(f"/approvals/documents/{circulated.pk}/files/{file_id}/").status_code
        == 404
    )
    assert client.get(f"/approvals/documents/{circulated.pk}/files/nope/").status_code == 404


def test_a_document_not_yet_signed_off_has_no_readers(
    people: SimpleNamespace, media: Any, password: str
) -> None:
    install(people, "document")
    request = submit(
        people.doctor,
        "document",
        {"title": "草稿", "body": "正文内容", "sign_off_by": "dean", "recipients": [{"department": "SURG"}]},
    )

    assert login("surgeon", password).get(f"/approvals/documents/{request.pk}/").status_code == 404
    assert login("doctor", password).get(f"/approvals/documents/{request.pk}/").status_code == 200
