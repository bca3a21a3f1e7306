"""The start pages of the request types other than leave: the type's start form (the form
engine's viewer) posting the API's ``data`` as JSON; refusals come back per field with the form's
data paths; the request page lists contract revisions and links a document to its reading page."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.org.models import Staff
from medoa.modules.approvals.catalog import request_types
from medoa.modules.approvals.models import ApprovalRequest

from .proc_support import *  # noqa: F403
from .proc_support import install, upload

pytestmark = pytest.mark.django_db


def client_of(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def post(client: Client, type_key: str, data: Any, version: int | None = None) -> Any:
    body: dict[str, Any] = {"data": data}
    if version is not None:
        body["version"] = version
    return client.post(f"/approvals/new/{type_key}/", json.dumps(body), content_type="application/json")


def test_each_type_shows_its_start_form_with_the_applicant(people: SimpleNamespace) -> None:
    install(people)
    client = client_of(people.doctor)

    for request_type in request_types:
        if request_type.key == "leave":
            continue
        response = client.get(f"/approvals/new/{request_type.key}/")
        page = response.content.decode()
        assert response.status_code == 200, request_type.key
        assert 'id="approvals-form-schema"' in page
        assert "vendor/forms/medoa-forms.min.js" in page and "approvals/start.js" in page
        schema = json.loads(
            page.split('id="approvals-form-schema" type="application/json">')[1].split("</script>")[0]
        )
        keys = {c.get("key") or c.get("path") for c in schema["components"] if not c.get("doNotSubmit")}
        assert keys == set(request_type.data_schema.model_fields), request_type.key
        assert '<dd id="applicant-name">李医生</dd>' in page
        assert '<dd id="applicant-department">心血管内科</dd>' in page


def test_a_type_not_installed_says_so(people: SimpleNamespace) -> None:
    response = client_of(people.doctor).get("/approvals/new/reimbursement/")

    assert response.status_code == 409
    assert 'id="not-installed"' in response.content.decode()


def test_a_reimbursement_with_three_lines_is_submitted_as_json(people: SimpleNamespace, media: Any) -> None:
    install(people, "reimbursement")
    client = client_of(people.doctor)
    items = [
        {"category": "travel", "description": "高铁票", "amount": 553.5, "invoice": [upload(people.doctor)]},
        {"category": "travel", "description": "住宿", "amount": 1200, "invoice": [upload(people.doctor)]},
        {"category": "meeting", "description": "会务费", "amount": 800, "invoice": [upload(people.doctor)]},
    ]

    response = post(client, "reimbursement", {"reason": "参加心血管年会", "items": items}, version=1)

    assert response.status_code == 201, response.content.decode()
    answer = response.json()
    request = ApprovalRequest.objects.get()
    assert answer["url"] == f"/approvals/requests/{request.pk}/"
    assert request.initiator == people.doctor and request.department == people.doctor.department
    assert request.data["items"][1]["amount"] == 1200
    assert request.form_record is not None and len(request.form_record.values["items"]) == 3

    page = client.get(answer["url"]).content.decode()
    assert "高铁票" in page and "差旅费" in page
    assert "<th>发票</th>" in page and "<th>invoice</th>" not in page  # labels, not the data's keys

    # every invoice opens from the request page, for the approver too; not for anyone else
    token = items[1]["invoice"][0]
    link = f"/approvals/requests/{request.pk}/files/{token}/"
    assert f'href="{link}"' in page and "报销明细 2 · 发票" in page
    download = client_of(people.head).get(link)
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert client_of(people.surgeon).get(link).status_code == 404
    assert client_of(people.head).get(f"/approvals/requests/{request.pk}/files/nothing/").status_code == 404


def test_refusals_come_back_beside_their_fields(people: SimpleNamespace, media: Any) -> None:
    install(people, "reimbursement")
    client = client_of(people.doctor)
    items = [
        {"category": "travel", "description": "高铁票", "amount": 100, "invoice": [upload(people.doctor)]},
        {"category": "travel", "description": "住宿", "amount": 0.001, "invoice": []},
    ]

    response = post(client, "reimbursement", {"reason": "年会", "items": items})

    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"items.1.amount", "items.1.invoice"} <= fields
    assert ApprovalRequest.objects.count() == 0

    response = post(client, "reimbursement", {"reason": "年会", "items": items[:1], "total": 5})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["total"]

    response = post(client, "reimbursement", {"reason": "年会", "items": items[:1]}, version=7)
    assert response.status_code == 409
    assert response.json()["ok"] is False

    response = client.post("/approvals/new/reimbursement/", "[", content_type="application/json")
    assert response.status_code == 400


def test_a_document_to_three_departments_and_its_request_page(people: SimpleNamespace) -> None:
    install(people, "document")
    client = client_of(people.doctor)
    data = {
        "title": "关于开展院感自查的通知",
        "body": "请各科室于本周内完成自查。",
        "sign_off_by": "vice_dean",
        "recipients": [{"department": "CARD"}, {"department": "SURG"}, {"department": "FIN"}],
    }

    response = post(client, "document", data)

    assert response.status_code == 201, response.content.decode()
    page = client.get(response.json()["url"]).content.decode()
    request = ApprovalRequest.objects.get()
    assert f'href="/approvals/documents/{request.pk}/"' in page
    assert "普外科" in page and "财务处" in page


def test_a_contract_lists_its_revisions(people: SimpleNamespace, media: Any) -> None:
    install(people, "contract")
    client = client_of(people.doctor)
    data = {
        "title": "设备维保合同",
        "counterparty": "某某医疗科技有限公司",
        "amount": 120000,
        "summary": "三年全保，含配件。",
        "contract_file": upload(people.doctor, "contract.pdf"),
    }

    response = post(client, "contract", data)

    assert response.status_code == 201, response.content.decode()
    request = ApprovalRequest.objects.get()
    page = client.get(response.json()["url"]).content.decode()
    assert 'id="contract-revisions"' in page
    assert f'href="/approvals/requests/{request.pk}/contract/1/"' in page
    assert "contract.pdf" in page
