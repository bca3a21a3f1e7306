"""Fixtures of the audit tests: an audit administrator (with TOTP, as the role requires), a doctor,
signed-in clients and bearer tokens, and a helper that appends entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.models import User
from medoa.core.access.services import api_token_create, totp_set
from medoa.core.audit.models import AuditEntry
from medoa.core.audit.services import audit_record
from medoa.core.org.models import Role, Staff

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


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
def auditor(person: Callable[..., Staff]) -> User:
    """``auditor``: audit_admin with a confirmed TOTP secret."""
    user: User = person("audit_admin", username="auditor").user
    totp_set(user=user, secret=TOTP_SECRET)
    user.refresh_from_db()
    return user


@pytest.fixture
def doctor(person: Callable[..., Staff]) -> User:
    user: User = person("doctor", username="doc").user
    return user


@pytest.fixture
def auditor_client(auditor: User) -> Client:
    client = Client()
    client.force_login(auditor)
    return client


@pytest.fixture
def doctor_client(doctor: User) -> Client:
    client = Client()
    client.force_login(doctor)
    return client


@pytest.fixture
def bearer() -> Callable[[User], dict[str, str]]:
    def make(user: User) -> dict[str, str]:
        raw, _token = api_token_create(user=user, client_address=None)
        return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    return make


@pytest.fixture
def append(db: Any) -> Callable[..., list[AuditEntry]]:
    """``append(3, action="test.thing")`` — that many entries, details ``{"n": i}``."""

    def make(count: int, *, action: str = "test.thing", actor: Any = None, **kwargs: Any) -> list[AuditEntry]:
        return [audit_record(actor=actor, action=action, details={"n": i}, **kwargs) for i in range(count)]

    return make
