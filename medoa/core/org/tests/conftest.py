"""Fixtures of the organisation tests: a small hospital tree, people with roles, signed-in
clients and API clients. The org permissions' default grants are written for every test (the
access app's post-migrate hook does the same in a real database)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.models import RoleGrant
from medoa.core.org.apps import PERMISSIONS
from medoa.core.org.models import Role, Staff
from medoa.core.org.tests.factories import person_maker

TOTP_SECRET = "JBSWY3DPEHPK3PXP"


@pytest.fixture(autouse=True)
def org_grants(db: Any) -> None:
    for permission in PERMISSIONS:
        for role_code, scope in permission.defaults.items():
            if role_code == "*":
                continue
            RoleGrant.objects.get_or_create(
                role=Role.objects.get(code=role_code), permission=permission.code, defaults={"scope": scope}
            )


@pytest.fixture
def tree(department_factory: Any) -> SimpleNamespace:
    """H 示范医院 → CLIN 临床 → CARD 心血管内科 → CARD-W1 心内一病区
                   → SURG 普外科 → SURG-W1 普外一病区
    → OFF 职能 → HR 人事处"""
    root = department_factory(
        code="H", name_zh="示范市第一人民医院", name_en="First Hospital", kind="hospital"
    )
    clinical = department_factory(
        code="CLIN", name_zh="临床科室", name_en="Clinical", kind="category", parent=root
    )
    cardio = department_factory(code="CARD", name_zh="心血管内科", name_en="Cardiology", parent=clinical)
    cardio_ward = department_factory(
        code="CARD-W1", name_zh="心内一病区", name_en="Cardiology ward 1", kind="ward", parent=cardio
    )
    surgery = department_factory(code="SURG", name_zh="普外科", name_en="General surgery", parent=clinical)
    surgery_ward = department_factory(
        code="SURG-W1", name_zh="普外一病区", name_en="Surgery ward 1", kind="ward", parent=surgery
    )
    offices = department_factory(
        code="OFF", name_zh="职能部门", name_en="Offices", kind="category", parent=root
    )
    hr_office = department_factory(code="HR", name_zh="人事处", name_en="Human resources", parent=offices)
    return SimpleNamespace(
        root=root,
        clinical=clinical,
        cardio=cardio,
        cardio_ward=cardio_ward,
        surgery=surgery,
        surgery_ward=surgery_ward,
        offices=offices,
        hr_office=hr_office,
    )


@pytest.fixture
def person(tree: SimpleNamespace) -> Callable[..., Staff]:
    """``person("head_nurse", department=tree.cardio, username="hn")``: a staff member holding
    roles — department roles at their own department, hospital-wide roles at the root;
    administrators with a confirmed second factor, so that their pages open."""
    return person_maker(default=tree.cardio, root=tree.root, totp_secret=TOTP_SECRET)


@pytest.fixture
def login(client: Client) -> Callable[[Staff], Client]:
    def sign_in(staff: Staff) -> Client:
        client.force_login(staff.user)
        return client

    return sign_in
