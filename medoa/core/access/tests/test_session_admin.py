"""The security administrator's session page: list live sessions, end a user's sessions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from medoa.core.access.models import ApiToken, RoleGrant, UserSession
from medoa.core.access.tokens import api_token_issue
from medoa.core.audit.models import AuditEntry
from medoa.core.org.models import Role

from .helpers import login

pytestmark = pytest.mark.django_db

SESSIONS_URL = "/accounts/sessions/"


@pytest.fixture
def doctor_signed_in(person: Any, password: str) -> tuple[Client, Any]:
    staff = person("doctor", username="doc", name="赵医生")
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 Ward PC")
    login(client, "doc", password)
    return client, staff


def test_the_security_administrator_sees_live_sessions(
    client: Client, totp_user: Any, doctor_signed_in: tuple[Client, Any]
) -> None:
    # Given
    client.force_login(totp_user)
    # When
    response = client.get(SESSIONS_URL, {"q": "doc"})
    # Then
    html = response.content.decode()
    assert response.status_code == 200
    assert "doc · 赵医生" in html
    assert "Mozilla/5.0 Ward PC" in html
    assert "secadmin" not in html.split("<tbody>")[1]


def test_ending_a_users_sessions_signs_them_out_and_revokes_tokens(
    client: Client, totp_user: Any, doctor_signed_in: tuple[Client, Any]
) -> None:
    # Given
    doctor_client, staff = doctor_signed_in
    _raw, token = api_token_issue(user=staff.user)
    client.force_login(totp_user)
    # When
    response = client.post(f"/accounts/sessions/{staff.user.pk}/end/")
    # Then
    assert response.status_code == 302
    assert doctor_client.get("/").status_code == 302
    assert not UserSession.objects.filter(user=staff.user).exists()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    entry = AuditEntry.objects.get(action="access.session.ended_by_admin")
    assert (entry.actor_id, entry.target_id, entry.details) == (
        totp_user.pk,
        str(staff.user.pk),
        {"sessions_ended": 1},
    )


@pytest.mark.parametrize("role", ["doctor", "dept_head", "hr"])
def test_other_roles_may_neither_list_nor_end_sessions(
    person: Any, doctor_signed_in: tuple[Client, Any], role: str
) -> None:
    # Given
    _doctor_client, staff = doctor_signed_in
    outsider = person(role, username="outsider")
    client = Client()
    client.force_login(outsider.user)
    # When
    listing = client.get(SESSIONS_URL)
    ending = client.post(f"/accounts/sessions/{staff.user.pk}/end/")
    # Then
    assert (listing.status_code, ending.status_code) == (403, 403)
    assert UserSession.objects.filter(user=staff.user).count() == 1
    assert not AuditEntry.objects.filter(action="access.session.ended_by_admin").exists()


def test_ending_sessions_needs_post(
    client: Client, totp_user: Any, doctor_signed_in: tuple[Client, Any]
) -> None:
    _doctor_client, staff = doctor_signed_in
    client.force_login(totp_user)
    assert client.get(f"/accounts/sessions/{staff.user.pk}/end/").status_code == 405
    assert UserSession.objects.filter(user=staff.user).count() == 1


def test_a_user_without_live_sessions_is_404(client: Client, totp_user: Any, person: Any) -> None:
    idle = person(username="idle")
    client.force_login(totp_user)
    assert client.post(f"/accounts/sessions/{idle.user.pk}/end/").status_code == 404


def test_a_department_scope_reaches_only_that_departments_sessions(
    person: Any, doctor_signed_in: tuple[Client, Any], department_factory: Any
) -> None:
    # Given a head of another department allowed to manage sessions of their own department
    RoleGrant.objects.create(
        role=Role.objects.get(code="dept_head"), permission="access.session.manage", scope="department"
    )
    _doctor_client, staff = doctor_signed_in
    head = person("dept_head", username="head", department=department_factory(code="OTHER"))
    colleague = person("doctor", username="colleague", department=head.department)
    Client().force_login(colleague.user)
    client = Client()
    client.force_login(head.user)
    # When
    listing = client.get(SESSIONS_URL).content.decode()
    ending = client.post(f"/accounts/sessions/{staff.user.pk}/end/")
    # Then
    assert "colleague" in listing
    assert "doc · 赵医生" not in listing
    assert ending.status_code == 404
    assert UserSession.objects.filter(user=staff.user).count() == 1


def test_a_nul_character_in_the_search_is_harmless(client: Client, totp_user: Any) -> None:
    client.force_login(totp_user)
    assert client.get(SESSIONS_URL, {"q": "do\x00c"}).status_code == 200
