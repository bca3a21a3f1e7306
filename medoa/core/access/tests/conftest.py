"""Fixtures of the access tests: people with roles, signed-in clients, TOTP codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from medoa.core.access.models import User
from medoa.core.access.services import totp_set
from medoa.core.org.models import Role, Staff

from .helpers import TOTP_SECRET


@pytest.fixture
def person(staff_factory: Any, role_assignment_factory: Any) -> Callable[..., Staff]:
    """``person("doctor", username="d1")`` — a staff member holding the given built-in roles."""

    def make(*role_codes: str, username: str | None = None, **staff_kwargs: Any) -> Staff:
        if username is not None:
            staff_kwargs["user__username"] = username
        staff: Staff = staff_factory(**staff_kwargs)
        for code in role_codes:
            role_assignment_factory(staff=staff, role=Role.objects.get(code=code))
        return staff

    return make


@pytest.fixture
def totp_user(person: Callable[..., Staff]) -> User:
    """``secadmin`` with a confirmed TOTP secret."""
    staff = person("sec_admin", username="secadmin")
    user: User = staff.user
    totp_set(user=user, secret=TOTP_SECRET)
    user.refresh_from_db()
    return user
