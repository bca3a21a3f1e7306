"""公文流转 Document circulation routing: the department head reviews, the chosen leader signs off,
the document is distributed with one read receipt per recipient department."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.notify.models import Notification
from medoa.modules.approvals.errors import ApprovalInputError
from medoa.modules.approvals.models import ApprovalRequest, DocumentReceipt

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit

pytestmark = pytest.mark.django_db

REVIEW = ("科室负责人审核", "head")
SIGN = "签发"


def document(
    sign_off_by: str = "vice_dean", recipients: tuple[str, ...] = ("CARD", "SURG", "FIN")
) -> dict[str, Any]:
    return {
        "title": "关于开展2027年度医疗质量安全月活动的通知",
        "doc_number": "院发〔2026〕12号",
        "body": "各科室：为进一步提高医疗质量……",
        "sign_off_by": sign_off_by,
        "recipients": [{"department": code} for code in recipients],
    }


@pytest.mark.parametrize(
    ("sign_off_by", "decisions", "chain", "status", "receipts"),
    [
        ("vice_dean", {}, [REVIEW, (SIGN, "vice")], "approved", ["CARD", "FIN", "SURG"]),
        ("dean", {}, [REVIEW, (SIGN, "dean")], "approved", ["CARD", "FIN", "SURG"]),
        ("dean", {"head": "reject"}, [REVIEW], "rejected", []),
        ("vice_dean", {"vice": "reject"}, [REVIEW, (SIGN, "vice")], "rejected", []),
    ],
)
def test_document_routing(
    people: SimpleNamespace,
    sign_off_by: str,
    decisions: dict[str, str],
    chain: list[tuple[str, str]],
    status: str,
    receipts: list[str],
) -> None:
    install(people, "document")
    request = submit(people.doctor, "document", document(sign_off_by))

    assert decide_all(request, decisions) == chain
    assert request.status == status
    assert (
        sorted(DocumentReceipt.objects.filter(request=request).values_list("department__code", flat=True))
        == receipts
    )


def test_distribution_tells_the_heads_of_the_recipient_departments(people: SimpleNamespace) -> None:
    install(people, "document")
    request = submit(people.doctor, "document", document(recipients=("CARD", "SURG")))

    decide_all(request)

    told = Notification.objects.filter(kind="approvals.document").values_list(
        "recipient__username", flat=True
    )
    assert sorted(told) == ["head", "surgery_head"]
    assert all(r.read_at is None for r in DocumentReceipt.objects.filter(request=request))


def test_an_unknown_department_is_refused(people: SimpleNamespace) -> None:
    install(people, "document")

    with pytest.raises(ApprovalInputError) as refused:
        submit(people.doctor, "document", document(recipients=("CARD", "NOPE")))
    assert refused.value.field in ("data.recipients", "data.recipients.1.department")
    assert ApprovalRequest.objects.count() == 0
