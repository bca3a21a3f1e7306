"""The printable approval sheet (审批单): hospital name, request number, the form's data, and the
whole chain with every approver's name, decision and comment; the page serves it to whoever may
see the request and to nobody else."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.modules.approvals.models import ApprovalRequest
from medoa.modules.approvals.pdf import approval_sheet_pdf

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit, upload

pytestmark = pytest.mark.django_db

_LITERAL = re.compile(rb"\((?:\\.|[^\\)])*\)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = raw[i + 1 : i + 2]
        octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(), 8))
            i += 1 + len(octal.group())
        else:
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    return bytes(out)


def pdf_text(pdf: bytes) -> str:
    """The text a sheet shows: every string shown between BT and ET in the (uncompressed) page
    streams, set in the CID font (UTF-16 big-endian), joined."""
    parts: list[str] = []
    for block in re.findall(rb"BT(.*?)ET", pdf, re.S):
        for literal in _LITERAL.findall(block):
            parts.append(_unescape(literal[1:-1]).decode("utf-16-be", errors="replace"))
    return "".join(parts)


def reimbursement(people: SimpleNamespace, amount: float) -> ApprovalRequest:
    install(people, "reimbursement")
    return submit(
        people.doctor,
        "reimbursement",
        {
            "reason": "参加学术年会",
            "items": [
                {
                    "category": "travel",
                    "description": "往返高铁票",
                    "amount": amount,
                    "invoice": [upload(people.doctor)],
                }
            ],
        },
    )


def test_the_sheet_shows_the_request_and_every_approver(people: SimpleNamespace, media: Any) -> None:
    request = reimbursement(people, 60000.00)
    decide_all(
        request, comments={"head": "情况属实", "finance": "票据齐全", "vice": "同意报销", "dean": "准予报销"}
    )

    text = pdf_text(approval_sheet_pdf(request, compress=False))

    assert "示范医院" in text
    assert request.number in text
    assert "李医生" in text and "心血管内科" in text  # the initiator and their department
    assert "往返高铁票" in text and "差旅费" in text and "60,000.00" in text  # the line item
    for approver in ("张主任", "郑会计", "周副院长", "吴院长"):
        assert approver in text
    for step in ("科室负责人审批", "财务处审核", "分管副院长审批", "院长审批"):
        assert step in text
    for comment in ("情况属实", "票据齐全", "同意报销", "准予报销"):
        assert comment in text


def test_the_sheet_of_a_running_request_names_who_is_next(people: SimpleNamespace, media: Any) -> None:
    request = reimbursement(people, 8000.00)
    from medoa.engines.flow import services as flow_services
    from medoa.engines.flow.models import HumanTask

    task = HumanTask.objects.get(instance=request.process_instance, status="open")
    flow_services.task_act(actor=people.head.user, task=task, action="approve", comment="请财务审核")

    text = pdf_text(approval_sheet_pdf(request, compress=False))

    assert "张主任" in text and "请财务审核" in text
    assert "财务处审核" in text and "郑会计" in text  # the open step and its approver


def test_the_compressed_sheet_is_a_pdf(people: SimpleNamespace, media: Any) -> None:
    request = reimbursement(people, 100.00)

    pdf = approval_sheet_pdf(request)

    assert pdf.startswith(b"%PDF-") and b"STSong-Light" in pdf


@pytest.mark.parametrize(
    ("who", "status"), [("doctor", 200), ("head", 200), ("surgeon", 404), ("doctor2", 404)]
)
def test_the_sheet_page_serves_those_who_may_see_the_request(
    people: SimpleNamespace, media: Any, password: str, who: str, status: int
) -> None:
    request = reimbursement(people, 100.00)
    client = Client()
    assert client.login(username=who, password=password)

    response = client.get(f"/approvals/requests/{request.pk}/sheet.pdf")

    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert "no-store" in response["Cache-Control"]
        assert response.content.startswith(b"%PDF-")


def test_the_sheet_page_needs_a_login(people: SimpleNamespace, media: Any) -> None:
    request = reimbursement(people, 100.00)

    response = Client().get(f"/approvals/requests/{request.pk}/sheet.pdf")

    assert response.status_code == 302
