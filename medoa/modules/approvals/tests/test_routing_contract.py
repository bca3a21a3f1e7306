"""合同审批 Contract review routing: legal (医务处 by default) and 财务处 in parallel, then the dean;
a reviewer's objection returns the contract to the initiator for revision, and every revision of
the file is kept."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from medoa.engines.flow.models import HumanTask
from medoa.modules.approvals.models import ApprovalRequest, ContractRevision

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, open_steps, submit, upload

pytestmark = pytest.mark.django_db

REVIEW = "法务、财务会审"
LEGAL = (REVIEW, "ma")
FINANCE = (REVIEW, "finance")
DEAN = ("院长审批", "dean")
REVISE = ("修改合同", "doctor")


def contract(staff: Any) -> dict[str, Any]:
    return {
        "title": "导管室耗材年度供货合同",
        "counterparty": "某医疗器械有限公司",
        "amount": 860000.00,
        "summary": "供货期一年，按月结算。",
        "contract_file": upload(staff, "contract-v1.pdf"),
    }


def revised_by(staff: Any, request: ApprovalRequest, files: list[str]) -> Any:
    """form data for the 修改合同 step: the record's values with a newly uploaded file."""

    def data(task: HumanTask) -> dict[str, Any] | None:
        if task.task_def_id != "Task_revise":
            return None
        request.form_record.refresh_from_db()
        files.append(upload(staff, f"contract-v{len(files) + 2}.pdf"))
        return {
            **request.form_record.values,
            "contract_file": files[-1],
            "revision_note": "按财务处意见修改付款条款",
        }

    return data


def test_legal_and_finance_review_at_once(people: SimpleNamespace, media: Any) -> None:
    install(people, "contract")
    request = submit(people.doctor, "contract", contract(people.doctor))

    assert open_steps(request) == [(REVIEW, ["finance"]), (REVIEW, ["ma"])]


@pytest.mark.parametrize(
    ("decisions", "chain", "status", "revisions"),
    [
        ({}, [LEGAL, FINANCE, DEAN], "approved", 1),
        ({"dean": "reject"}, [LEGAL, FINANCE, DEAN], "rejected", 1),
        # finance objects once: back to the initiator, who resubmits a new file; the second round passes
        (
            {"finance": ["reject", "approve"]},
            [LEGAL, FINANCE, REVISE, LEGAL, FINANCE, DEAN],
            "approved",
            2,
        ),
        # legal objects twice, the initiator resubmits once and then gives up
        ({"ma": "reject", "doctor": ["approve", "reject"]}, [LEGAL, REVISE, LEGAL, REVISE], "rejected", 2),
    ],
)
def test_contract_routing(
    people: SimpleNamespace,
    media: Any,
    decisions: dict[str, Any],
    chain: list[tuple[str, str]],
    status: str,
    revisions: int,
) -> None:
    install(people, "contract")
    request = submit(people.doctor, "contract", contract(people.doctor))
    files: list[str] = []

    assert decide_all(request, decisions, form_data=revised_by(people.doctor, request, files)) == chain
    assert request.status == status
    assert ContractRevision.objects.filter(request=request).count() == revisions


def test_each_revision_of_the_file_is_kept(people: SimpleNamespace, media: Any) -> None:
    install(people, "contract")
    data = contract(people.doctor)
    request = submit(people.doctor, "contract", data)
    files: list[str] = []

    decide_all(
        request, {"finance": ["reject", "approve"]}, form_data=revised_by(people.doctor, request, files)
    )

    rows = list(ContractRevision.objects.filter(request=request).order_by("number"))
    assert [(r.number, r.attachment_id, r.note) for r in rows] == [
        (1, data["contract_file"], ""),
        (2, files[0], "按财务处意见修改付款条款"),
    ]
    assert [r.attachment.name for r in rows] == ["contract-v1.pdf", "contract-v2.pdf"]


def test_the_legal_role_is_a_setting(people: SimpleNamespace, media: Any, settings: Any) -> None:
    settings.MEDOA_APPROVALS_CONTRACT_LEGAL_ROLE = "hr"
    install(people, "contract")
    request = submit(people.doctor, "contract", contract(people.doctor))

    assert open_steps(request) == [(REVIEW, ["finance"]), (REVIEW, ["hr"])]


@pytest.mark.parametrize(
    ("who", "status"), [("doctor", 200), ("finance", 200), ("dean", 200), ("surgeon", 404)]
)
def test_a_kept_revision_downloads_for_those_who_may_see_the_request(
    people: SimpleNamespace, media: Any, password: str, who: str, status: int
) -> None:
    from django.test import Client

    install(people, "contract")
    request = submit(people.doctor, "contract", contract(people.doctor))
    files: list[str] = []
    decide_all(
        request, {"finance": ["reject", "approve"]}, form_data=revised_by(people.doctor, request, files)
    )
    client = Client()
    assert client.login(username=who, password=password)

    first = client.get(f"/approvals/requests/{request.pk}/contract/1/")
    missing = client.get(f"/approvals/requests/{request.pk}/contract/3/")

    assert first.status_code == status and missing.status_code == 404
    if status == 200:
        assert 'filename="contract-v1.pdf"' in first["Content-Disposition"]


def test_the_sheet_lists_the_revisions(people: SimpleNamespace, media: Any) -> None:
    from medoa.modules.approvals.pdf import approval_sheet_pdf

    from .test_pdf import pdf_text

    install(people, "contract")
    request = submit(people.doctor, "contract", contract(people.doctor))
    files: list[str] = []
    decide_all(
        request, {"finance": ["reject", "approve"]}, form_data=revised_by(people.doctor, request, files)
    )

    text = pdf_text(approval_sheet_pdf(request, compress=False))

    assert "contract-v1.pdf" in text and "contract-v2.pdf" in text and "按财务处意见修改付款条款" in text
    assert "修改合同" in text and "卫法务" in text and "吴院长" in text
