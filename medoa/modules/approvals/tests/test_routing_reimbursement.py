"""报销 Reimbursement routing: the server-computed total → the chain (≤ 5,000 the department head;
≤ 50,000 plus 财务处; above, plus the vice dean and the dean)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from medoa.modules.approvals.errors import ApprovalInputError
from medoa.modules.approvals.models import ApprovalRequest

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit, upload

pytestmark = pytest.mark.django_db

HEAD = ("科室负责人审批", "head")
FIN = ("财务处审核", "finance")
VICE = ("分管副院长审批", "vice")
DEAN = ("院长审批", "dean")


def items(staff: Any, *amounts: float) -> list[dict[str, Any]]:
    return [
        {"category": "travel", "description": f"第{n}张发票", "amount": amount, "invoice": [upload(staff)]}
        for n, amount in enumerate(amounts, start=1)
    ]


@pytest.mark.parametrize(
    ("amounts", "decisions", "chain", "status"),
    [
        ((3200.00,), {}, [HEAD], "approved"),
        ((2500.00, 2500.00), {}, [HEAD], "approved"),  # 5,000 exactly
        ((2500.00, 2500.01), {}, [HEAD, FIN], "approved"),  # 5,000.01
        ((50000.00,), {}, [HEAD, FIN], "approved"),
        ((49999.99, 0.02), {}, [HEAD, FIN, VICE, DEAN], "approved"),  # 50,000.01
        ((120000.00,), {}, [HEAD, FIN, VICE, DEAN], "approved"),
        ((120000.00,), {"head": "reject"}, [HEAD], "rejected"),
        ((120000.00,), {"finance": "reject"}, [HEAD, FIN], "rejected"),
        ((120000.00,), {"vice": "reject"}, [HEAD, FIN, VICE], "rejected"),
        ((120000.00,), {"dean": "reject"}, [HEAD, FIN, VICE, DEAN], "rejected"),
    ],
)
def test_reimbursement_routing(
    people: SimpleNamespace,
    media: Any,
    amounts: tuple[float, ...],
    decisions: dict[str, str],
    chain: list[tuple[str, str]],
    status: str,
) -> None:
    install(people, "reimbursement")
    request = submit(
        people.doctor, "reimbursement", {"reason": "参加学术会议", "items": items(people.doctor, *amounts)}
    )

    assert decide_all(request, decisions) == chain
    assert request.status == status


def test_the_total_is_computed_by_the_server(people: SimpleNamespace, media: Any) -> None:
    install(people, "reimbursement")
    data = {"reason": "参加学术会议", "items": items(people.doctor, 0.1, 0.2, 4999.71)}
    data["total"] = 1  # a client's total is not a field of the request

    with pytest.raises(ApprovalInputError):
        submit(people.doctor, "reimbursement", data)
    del data["total"]
    request = submit(people.doctor, "reimbursement", data)

    assert request.process_instance.variables["total"] == 5000.01
    assert decide_all(request) == [HEAD, FIN]


def test_an_amount_with_three_decimals_or_no_invoice_is_refused(people: SimpleNamespace, media: Any) -> None:
    install(people, "reimbursement")
    bad_amount = {
        "reason": "会议",
        "items": [
            {"category": "travel", "description": "x", "amount": 1.005, "invoice": [upload(people.doctor)]}
        ],
    }
    no_invoice = {
        "reason": "会议",
        "items": [{"category": "travel", "description": "x", "amount": 10, "invoice": []}],
    }

    with pytest.raises(ApprovalInputError) as first:
        submit(people.doctor, "reimbursement", bad_amount)
    with pytest.raises(ApprovalInputError) as second:
        submit(people.doctor, "reimbursement", no_invoice)

    assert [f for f, _m in first.value.errors] == ["data.items.0.amount"]
    assert [f for f, _m in second.value.errors] == ["data.items.0.invoice"]
    assert ApprovalRequest.objects.count() == 0


def test_no_self_approval_the_finance_step_passes_to_the_next_level(
    people: SimpleNamespace, hospital: SimpleNamespace, media: Any
) -> None:
    """财务处's own clerk asks for 10,000: the finance step is passed on (recorded), and the request
    goes to the next level, the vice dean, then the dean."""
    from medoa.core.org.tests.factories import person_maker
    from medoa.engines.flow.models import HumanTask

    person_maker(default=hospital.FIN, root=hospital.root)(
        "dept_head", username="finance_head", name="财务处长"
    )
    install(people, "reimbursement")
    request = submit(
        people.finance, "reimbursement", {"reason": "培训费", "items": items(people.finance, 10000.00)}
    )

    assert decide_all(request) == [("科室负责人审批", "finance_head"), VICE, DEAN]
    assert request.status == "approved"
    passed = HumanTask.objects.get(instance=request.process_instance, task_def_id="Task_finance")
    assert (passed.outcome, passed.completed_by) == ("approved", None)
