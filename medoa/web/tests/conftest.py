"""Fixtures of the shell's tests: staff members holding roles, and role grants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from medoa.core.access.choices import DataScope
from medoa.core.access.models import RoleGrant
from medoa.core.access.policy import forget_principal
from medoa.core.org.models import Department, Role, Staff


@pytest.fixture
def hospital(department_factory: Any) -> dict[str, Department]:
    """示范医院 → 临床 → 心血管内科 → 心内一病区."""
    root = department_factory(
        code="H", name_zh="示范市第一人民医院", name_en="First People's Hospital", kind="hospital"
    )
    clinical = department_factory(
        code="CLIN", name_zh="临床科室", name_en="Clinical", kind="category", parent=root
    )
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=clinical)
    ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Cardiology ward 1", kind="ward", parent=cardio
    )
    return {"root": root, "clinical": clinical, "cardio": cardio, "ward": ward}


@pytest.fixture
def make_staff(staff_factory: Any, role_assignment_factory: Any, role_factory: Any) -> Callable[..., Staff]:
    """``make_staff("doctor", "dept_head", department=d, name="张伟")``: a staff member holding roles."""

    def make(*role_codes: str, department: Department | None = None, **fields: Any) -> Staff:
        if department is not None:
            fields["department"] = department
        staff = staff_factory(**fields)
        for code in role_codes:
            role_assignment_factory(staff=staff, role=role_factory(code=code), department=staff.department)
        return staff

    return make


@pytest.fixture
def grant(db: Any) -> Callable[..., RoleGrant]:
    """``grant("doctor", "some.permission")``: the role grants the permission (all data)."""

    def make(role_code: str, permission: str, scope: str = DataScope.ALL) -> RoleGrant:
        role = Role.objects.get(code=role_code)
        return RoleGrant.objects.create(role=role, permission=permission, scope=scope)

    return make


@pytest.fixture
def signed_in(client: Any) -> Callable[[Staff], Any]:
    """Sign the test client in as ``staff``; returns the client."""

    def sign_in(staff: Staff) -> Any:
        forget_principal(staff.user)
        client.force_login(staff.user)
        return client

    return sign_in
