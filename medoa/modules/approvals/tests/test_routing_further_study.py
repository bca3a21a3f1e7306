"""进修 Further study routing: months → the chain (department head → 科教处 → vice dean over 3 months)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit

pytestmark = pytest.mark.django_db

HEAD = ("科室负责人审批", "head")
EDU = ("科教处审批", "education")
VICE = ("分管副院长审批", "vice")


@pytest.mark.parametrize(
    ("months", "decisions", "chain", "status"),
    [
        (1, {}, [HEAD, EDU], "approved"),
        (3, {}, [HEAD, EDU], "approved"),
        (4, {}, [HEAD, EDU, VICE], "approved"),
        (12, {"head": "reject"}, [HEAD], "rejected"),
        (12, {"education": "reject"}, [HEAD, EDU], "rejected"),
        (6, {"vice": "reject"}, [HEAD, EDU, VICE], "rejected"),
    ],
)
def test_further_study_routing(
    people: SimpleNamespace, months: int, decisions: dict[str, str], chain: list[tuple[str, str]], status: str
) -> None:
    install(people, "further_study")
    request = submit(
        people.doctor,
        "further_study",
        {
            "institution": "北京协和医院",
            "specialty": "心脏介入",
            "months": months,
            "start_date": "2027-03-01",
            "end_date": "2027-08-31",
            "plan": "学习复杂冠脉介入技术",
        },
    )

    assert decide_all(request, decisions) == chain
    assert request.status == status


def test_further_study_end_before_start_is_refused(people: SimpleNamespace) -> None:
    from medoa.modules.approvals.errors import ApprovalInputError
    from medoa.modules.approvals.models import ApprovalRequest

    install(people, "further_study")
    with pytest.raises(ApprovalInputError) as refused:
        submit(
            people.doctor,
            "further_study",
            {
                "institution": "北京协和医院",
                "specialty": "心脏介入",
                "months": 2,
                "start_date": "2027-03-01",
                "end_date": "2027-02-01",
                "plan": "学习",
            },
        )
    assert refused.value.field == "data.end_date"
    assert ApprovalRequest.objects.count() == 0


def test_no_self_approval_the_education_officer_goes_on_to_the_vice_dean(people: SimpleNamespace) -> None:
    install(people, "further_study")
    request = submit(
        people.education,
        "further_study",
        {
            "institution": "复旦大学",
            "specialty": "医学教育",
            "months": 2,
            "start_date": "2027-03-01",
            "end_date": "2027-04-30",
            "plan": "学习教学管理",
        },
    )

    assert decide_all(request) == [("科室负责人审批", "dean"), VICE]
    assert request.status == "approved"
