"""The policy module: has_perm and scope_q for every scope, with and without sub-departments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from medoa.core.access.choices import DataScope
from medoa.core.access.models import RoleGrant
from medoa.core.access.permissions import Permission, permissions, register
from medoa.core.access.policy import forget_principal, has_perm, has_role, principal_of, scope_q, widest_scope
from medoa.core.org.models import Staff

pytestmark = pytest.mark.django_db

CODE = "tests.records.view"


@pytest.fixture
def tree(department_factory: Any, staff_factory: Any, role_factory: Any) -> dict[str, Any]:
    """hospital → A → A1 → A1x, hospital → B; one staff member in each; a role ``probe``."""
    hospital = department_factory(code="H")
    a = department_factory(code="A", parent=hospital)
    a1 = department_factory(code="A1", parent=a)
    a1x = department_factory(code="A1x", parent=a1)
    b = department_factory(code="B", parent=hospital)
    people = {d.code: staff_factory(department=d, user__username=f"u_{d.code}") for d in (a, a1, a1x, b)}
    return {
        "H": hospital,
        "A": a,
        "A1": a1,
        "A1x": a1x,
        "B": b,
        "people": people,
        "role": role_factory(code="probe"),
    }


def grant(
    tree: dict[str, Any], scope: DataScope, *, at: str = "A", children: bool, role_assignment_factory: Any
) -> Any:
    me = tree["people"]["A"]
    RoleGrant.objects.create(role=tree["role"], permission=CODE, scope=scope)
    role_assignment_factory(staff=me, role=tree["role"], department=tree[at], include_children=children)
    return me.user


def visible(user: Any) -> set[str]:
    q = scope_q(user, CODE, department_field="department", owner_field="pk")
    return set(Staff.objects.filter(q).values_list("department__code", flat=True))


@pytest.mark.parametrize(
    ("scope", "children", "expected"),
    [
        (DataScope.ALL, False, {"A", "A1", "A1x", "B"}),
        (DataScope.DEPARTMENT_TREE, False, {"A", "A1", "A1x"}),
        (DataScope.DEPARTMENT_TREE, True, {"A", "A1", "A1x"}),
        (DataScope.DEPARTMENT, True, {"A", "A1", "A1x"}),
        (DataScope.DEPARTMENT, False, {"A"}),
        (DataScope.SELF, True, {"A"}),
    ],
)
def test_scope_q_and_has_perm_agree_for_every_scope(
    tree: dict[str, Any], role_assignment_factory: Any, scope: DataScope, children: bool, expected: set[str]
) -> None:
    # Given
    user = grant(tree, scope, children=children, role_assignment_factory=role_assignment_factory)
    # When
    seen = visible(user)
    allowed = {
        code
        for code, staff in tree["people"].items()
        if has_perm(user, CODE, department=staff.department, owner=staff)
    }
    # Then
    assert seen == expected
    assert allowed == expected
    assert has_perm(user, CODE) is True
    assert widest_scope(user, CODE) == scope


def test_self_scope_matches_only_the_owner_not_the_department(
    tree: dict[str, Any], role_assignment_factory: Any
) -> None:
    # Given
    user = grant(tree, DataScope.SELF, children=True, role_assignment_factory=role_assignment_factory)
    colleague = Staff.objects.create(
        user=type(user).objects.create(username="colleague"),
        employee_no="X1",
        name="同事",
        department=tree["A"],
        title="attending",
    )
    # Then
    assert has_perm(user, CODE, department=tree["A"], owner=colleague) is False
    assert has_perm(user, CODE, department=tree["A"], owner=tree["people"]["A"]) is True
    assert colleague.pk not in set(
        Staff.objects.filter(scope_q(user, CODE, owner_field="pk")).values_list("pk", flat=True)
    )


def test_a_role_held_for_another_department_reaches_that_department(
    tree: dict[str, Any], role_assignment_factory: Any
) -> None:
    # Given the person in A holds the role for B
    user = grant(
        tree, DataScope.DEPARTMENT, at="B", children=False, role_assignment_factory=role_assignment_factory
    )
    # Then
    assert visible(user) == {"B"}


def test_without_a_grant_nothing_is_visible(tree: dict[str, Any]) -> None:
    user = tree["people"]["A"].user
    assert visible(user) == set()
    assert has_perm(user, CODE) is False
    assert widest_scope(user, CODE) is None


def test_a_disabled_grant_gives_nothing(tree: dict[str, Any], role_assignment_factory: Any) -> None:
    user = grant(tree, DataScope.ALL, children=True, role_assignment_factory=role_assignment_factory)
    RoleGrant.objects.filter(permission=CODE).update(enabled=False)
    forget_principal(user)
    assert has_perm(user, CODE) is False


def test_inactive_staff_hold_nothing(tree: dict[str, Any], role_assignment_factory: Any) -> None:
    user = grant(tree, DataScope.ALL, children=True, role_assignment_factory=role_assignment_factory)
    Staff.objects.filter(user=user).update(status="left")
    forget_principal(user)
    assert has_perm(user, CODE) is False
    assert has_role(user, "probe") is False


def test_anonymous_users_hold_nothing() -> None:
    from django.contrib.auth.models import AnonymousUser

    assert principal_of(AnonymousUser()) is None
    assert has_perm(AnonymousUser(), CODE) is False
    assert scope_q(AnonymousUser(), CODE) is not None


@pytest.fixture
def everyone_permission() -> Iterator[Permission]:
    perm = register(Permission("tests.directory.view", "Directory", defaults={"*": DataScope.DEPARTMENT}))
    yield perm
    permissions._items.pop(perm.code, None)


def test_everyone_grants_reach_the_own_department_only(
    tree: dict[str, Any], everyone_permission: Permission
) -> None:
    user = tree["people"]["A"].user
    q = scope_q(user, everyone_permission.code)
    assert set(Staff.objects.filter(q).values_list("department__code", flat=True)) == {"A"}


def test_the_principal_is_loaded_once_per_user_object(
    tree: dict[str, Any], role_assignment_factory: Any, django_assert_num_queries: Any
) -> None:
    user = grant(tree, DataScope.ALL, children=True, role_assignment_factory=role_assignment_factory)
    forget_principal(user)
    with django_assert_num_queries(3):
        has_perm(user, CODE)
        has_role(user, "probe")
        scope_q(user, CODE)
