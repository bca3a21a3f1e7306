"""has_role() and in_department(): the organisation as seen from an expression."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.access.policy import forget_principal
from medoa.core.org.choices import StaffStatus
from medoa.engines.rules.expressions import ExpressionError, evaluate

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(
    department_factory: Any, staff_factory: Any, role_factory: Any, role_assignment_factory: Any
) -> dict[str, Any]:
    hospital = department_factory(code="HOSP", parent=None)
    medicine = department_factory(code="MED", parent=hospital)
    icu = department_factory(code="ICU", parent=medicine)
    surgery = department_factory(code="SURG", parent=hospital)
    dean = role_factory(code="dean")
    head = role_factory(code="dept_head")
    zhang = staff_factory(user__username="zhang", department=icu)
    li = staff_factory(user__username="li", department=surgery)
    gone = staff_factory(user__username="gone", department=icu, status=StaffStatus.LEFT)
    role_assignment_factory(staff=zhang, role=head, department=icu)
    role_assignment_factory(staff=li, role=dean, department=hospital)
    role_assignment_factory(staff=gone, role=dean, department=hospital)
    for staff in (zhang, li, gone):
        forget_principal(staff.user)  # nothing cached from another test that had the same ids
    return {"zhang": zhang, "li": li, "gone": gone}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("has_role('zhang', 'dept_head')", True),
        ("has_role('zhang', 'dean')", False),
        ("has_role('li', 'dean')", True),
        ("has_role('gone', 'dean')", False),  # resigned staff hold no roles
        ("has_role('nobody', 'dean')", False),
        ("has_role('', 'dean')", False),
        ("has_role(None, 'dean')", False),
        ("has_role(42, 'dean')", False),
        ("in_department('zhang', 'ICU')", True),
        ("in_department('zhang', 'MED')", True),  # below it
        ("in_department('zhang', 'HOSP')", True),
        ("in_department('zhang', 'SURG')", False),
        ("in_department('li', 'ICU')", False),
        ("in_department('gone', 'ICU')", False),
        ("in_department('nobody', 'ICU')", False),
        ("in_department(None, 'ICU')", False),
    ],
)
def test_helpers_with_usernames(org: dict[str, Any], source: str, expected: bool) -> None:
    assert evaluate(source, {}) is expected


def test_helpers_with_staff_and_user_objects(org: dict[str, Any]) -> None:
    zhang = org["zhang"]
    variables = {"staff": zhang, "user": zhang.user}
    assert evaluate("has_role(staff, 'dept_head') and has_role(user, 'dept_head')", variables) is True
    assert evaluate("in_department(staff, 'MED') and in_department(user, 'ICU')", variables) is True
    assert evaluate("in_department(staff, 'SURG') or has_role(user, 'dean')", variables) is False


def test_a_gateway_condition_on_the_initiator(org: dict[str, Any]) -> None:
    condition = "${days > 3 && !has_role(initiator, 'dean') && in_department(initiator, 'MED')}"
    assert evaluate(condition, {"days": 5, "initiator": "zhang"}) is True
    assert evaluate(condition, {"days": 5, "initiator": "li"}) is False
    assert evaluate(condition, {"days": 2, "initiator": "zhang"}) is False


def test_repeated_lookups_in_one_evaluation_reuse_the_user(
    org: dict[str, Any], django_assert_num_queries: Any
) -> None:
    # one query for the user, three for their principal (tests run without the access cache);
    # the other three calls reuse both instead of loading them again
    with django_assert_num_queries(4):
        assert evaluate("[has_role('zhang', r) for r in ['dean', 'dept_head', 'x', 'y']]", {}) == [
            False,
            True,
            False,
            False,
        ]


def test_a_bad_code_is_an_expression_error(org: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("in_department('zhang', ['ICU'])", {})
    assert info.value.message == "in_department(): the department code must be a string, not list"
