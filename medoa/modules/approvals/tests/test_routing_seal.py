"""用印 Seal use routing: the department head, then the keeper of that seal confirms it was applied."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from medoa.modules.approvals.errors import ApprovalInputError

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit, upload

pytestmark = pytest.mark.django_db

HEAD = ("科室负责人审批", "head")
KEEPER = "印章管理人用印确认"


def seal(staff: Any, seal_type: str) -> dict[str, Any]:
    return {
        "seal_type": seal_type,
        "document_title": "关于申报省级临床重点专科的报告",
        "document": [upload(staff, "report.pdf")],
        "copies": 3,
        "purpose": "报送省卫健委",
    }


@pytest.mark.parametrize(
    ("seal_type", "decisions", "chain", "status"),
    [
        ("official", {}, [HEAD, (KEEPER, "hr")], "approved"),
        ("contract", {}, [HEAD, (KEEPER, "hr")], "approved"),
        ("legal_rep", {}, [HEAD, (KEEPER, "hr")], "approved"),
        ("finance", {}, [HEAD, (KEEPER, "finance")], "approved"),
        ("official", {"head": "reject"}, [HEAD], "rejected"),
        ("official", {"hr": "reject"}, [HEAD, (KEEPER, "hr")], "rejected"),  # the keeper did not apply it
    ],
)
def test_seal_routing(
    people: SimpleNamespace,
    media: Any,
    seal_type: str,
    decisions: dict[str, str],
    chain: list[tuple[str, str]],
    status: str,
) -> None:
    install(people, "seal")
    request = submit(people.doctor, "seal", seal(people.doctor, seal_type))

    assert decide_all(request, decisions) == chain
    assert request.status == status


def test_the_keeper_may_be_a_configured_person(people: SimpleNamespace, media: Any, settings: Any) -> None:
    settings.MEDOA_APPROVALS_SEAL_KEEPERS = {"official": "user:admin"}
    install(people, "seal")
    request = submit(people.doctor, "seal", seal(people.doctor, "official"))

    assert decide_all(request) == [HEAD, (KEEPER, "admin")]


def test_a_seal_without_a_keeper_is_refused(people: SimpleNamespace, media: Any, settings: Any) -> None:
    settings.MEDOA_APPROVALS_SEAL_KEEPERS = {"legal_rep": ""}
    install(people, "seal")

    with pytest.raises(ApprovalInputError) as refused:
        submit(people.doctor, "seal", seal(people.doctor, "legal_rep"))
    assert refused.value.field == "data.seal_type"
