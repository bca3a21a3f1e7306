"""Factories for the organisation: departments, staff (with user accounts) and role assignments."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from medoa.core.access.policy import forget_principal
from medoa.core.org.choices import DepartmentKind, RoleScope, Title
from medoa.core.org.models import Delegation, Department, Role, RoleAssignment, Staff

TEST_PASSWORD = "Medoa@2026-test"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    code = factory.Sequence(lambda n: f"D{n:04d}")
    name_zh = factory.Sequence(lambda n: f"科室{n}")
    name_en = factory.Sequence(lambda n: f"Department {n}")
    kind = DepartmentKind.DEPARTMENT

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        dept = super()._create(model_class, *args, **kwargs)
        parent = dept.parent
        dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
        dept.depth = (parent.depth + 1) if parent else 0
        dept.save(update_fields=["path", "depth"])
        return dept


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff

    user = factory.SubFactory(UserFactory)
    employee_no = factory.Sequence(lambda n: f"E{n:05d}")
    name = factory.Sequence(lambda n: f"职工{n}")
    department = factory.SubFactory(DepartmentFactory)
    title = Title.ATTENDING


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"role{n}")
    name_zh = factory.LazyAttribute(lambda o: o.code)
    scope = RoleScope.HOSPITAL


class RoleAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleAssignment

    staff = factory.SubFactory(StaffFactory)
    role = factory.SubFactory(RoleFactory)
    department = factory.LazyAttribute(lambda o: o.staff.department)
    include_children = True


class DelegationFactory(factory.django.DjangoModelFactory):
    """A delegation in force now for one day: ``DelegationFactory(delegator=a, delegate=b)``."""

    class Meta:
        model = Delegation

    delegator = factory.SubFactory(StaffFactory)
    delegate = factory.SubFactory(StaffFactory)
    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + datetime.timedelta(days=1))
    process_keys = factory.LazyFunction(list)
    created_by = factory.LazyAttribute(lambda o: o.delegator)


def staff_with_roles(
    *role_codes: str, department: Department, root: Department, totp_secret: str | None = None, **fields: Any
) -> Staff:
    """A staff member of ``department`` holding the built-in roles ``role_codes``: department roles
    at their own department, hospital-wide roles at ``root``. With ``totp_secret``, a person holding
    a role that must sign in with a second factor (administrators) has it confirmed, so their pages
    open. ``fields`` go to StaffFactory (``user__username``, ``name`` …)."""
    staff: Staff = StaffFactory(department=department, **fields)
    for code in role_codes:
        role = Role.objects.get(code=code)
        at = staff.department if role.scope == RoleScope.DEPARTMENT else root
        RoleAssignment.objects.create(staff=staff, role=role, department=at)
    if totp_secret is not None and set(role_codes) & set(settings.MEDOA_TOTP_REQUIRED_ROLES):
        staff.user.totp_secret = totp_secret
        staff.user.totp_confirmed_at = timezone.now()
        staff.user.save(update_fields=["totp_secret", "totp_confirmed_at"])
    forget_principal(staff.user)
    return staff


def person_maker(
    *, default: Department, root: Department, totp_secret: str | None = None
) -> Callable[..., Staff]:
    """The ``person`` fixtures' function: ``person("dept_head", department=d, username="head",
    name="王主任")`` — ``staff_with_roles`` in ``default`` unless another department is given."""

    def make(
        *role_codes: str, department: Department | None = None, username: str | None = None, **fields: Any
    ) -> Staff:
        if username is not None:
            fields["user__username"] = username
        return staff_with_roles(
            *role_codes, department=department or default, root=root, totp_secret=totp_secret, **fields
        )

    return make
