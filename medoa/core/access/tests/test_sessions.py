"""The session guard: idle timeout, deactivation, ended sessions, forced TOTP and password change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from medoa.core.access.models import UserSession
from medoa.core.access.sessions import SEEN_KEY, now_seconds
from medoa.core.audit.models import AuditEntry

from .helpers import login

pytestmark = pytest.mark.django_db


def signed_in(person: Any, password: str, *roles: str, username: str = "doc") -> tuple[Client, Any]:
    staff = person(*roles, username=username)
    client = Client()
    assert login(client, username, password).status_code == 302
    return client, staff


def set_seen(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[SEEN_KEY] = now_seconds() - seconds_ago
    session.save()


def test_a_session_idle_longer_than_the_limit_is_ended(person: Any, password: str, settings: Any) -> None:
    # Given a session last used just over the idle limit ago
    client, staff = signed_in(person, password, "doctor")
    set_seen(client, settings.MEDOA_SESSION_IDLE_MINUTES * 60 + 5)
    # When
    response = client.get("/")
    # Then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?reason=idle&next=%2F"
    assert client.get("/").status_code == 302
    assert not UserSession.objects.filter(user=staff.user).exists()
    assert AuditEntry.objects.get(action="access.session.expired").details == {"reason": "idle"}


def test_a_session_used_within_the_limit_stays_and_is_restamped(
    person: Any, password: str, settings: Any
) -> None:
    # Given a session last used a little under the idle limit ago
    client, _staff = signed_in(person, password, "doctor")
    set_seen(client, settings.MEDOA_SESSION_IDLE_MINUTES * 60 - 5)
    # When
    response = client.get("/")
    # Then
    assert response.status_code == 200
    assert now_seconds() - client.session[SEEN_KEY] < 5


def test_the_stamp_is_written_at_most_once_a_minute(person: Any, password: str) -> None:
    # Given a stamp set 30 seconds ago
    client, _staff = signed_in(person, password, "doctor")
    set_seen(client, 30)
    before = client.session[SEEN_KEY]
    # When
    client.get("/")
    # Then
    assert client.session[SEEN_KEY] == before


def test_deactivated_staff_loses_every_session(person: Any, password: str) -> None:
    # Given
    client, staff = signed_in(person, password, "doctor")
    # When the person is deactivated (status only; the org service also ends sessions)
    staff.status = "disabled"
    staff.save()
    response = client.get("/")
    # Then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?reason=ended")
    assert not UserSession.objects.filter(user=staff.user).exists()


def test_deactivated_user_account_is_signed_out(person: Any, password: str) -> None:
    # Given
    client, staff = signed_in(person, password, "doctor")
    # When
    staff.user.is_active = False
    staff.user.save()
    response = client.get("/")
    # Then
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_session_missing_from_the_live_list_is_signed_out(person: Any, password: str) -> None:
    # Given
    client, staff = signed_in(person, password, "doctor")
    # When
    UserSession.objects.filter(user=staff.user).delete()
    response = client.get("/")
    # Then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?reason=ended")


def test_force_login_sessions_are_recorded(person: Any) -> None:
    # Given
    staff = person("doctor", username="doc")
    client = Client()
    # When
    client.force_login(staff.user)
    # Then
    assert client.get("/").status_code == 200
    assert UserSession.objects.filter(user=staff.user).count() == 1


@pytest.mark.parametrize("role", ["sys_admin", "sec_admin", "audit_admin"])
def test_administrators_without_totp_see_only_the_enrolment_page(
    person: Any, password: str, role: str
) -> None:
    # Given
    client, _staff = signed_in(person, password, role, username="admin1")
    # When
    workbench = client.get("/")
    enrolment = client.get("/accounts/totp/")
    # Then
    assert workbench.status_code == 302
    assert workbench["Location"] == "/accounts/totp/"
    assert enrolment.status_code == 200


def test_other_roles_are_not_forced_to_enrol(person: Any, password: str) -> None:
    # Given
    client, _staff = signed_in(person, password, "doctor", "dept_head")
    # When
    response = client.get("/")
    # Then
    assert response.status_code == 200


def test_htmx_requests_are_redirected_with_a_header(person: Any, password: str) -> None:
    # Given
    client, _staff = signed_in(person, password, "sys_admin", username="admin1")
    # When
    response = client.get("/", HTTP_HX_REQUEST="true")
    # Then
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/totp/"


def test_must_change_password_forces_the_change_page(person: Any, password: str) -> None:
    # Given
    client, staff = signed_in(person, password, "doctor")
    staff.user.must_change_password = True
    staff.user.save()
    # When
    response = client.get("/")
    # Then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/"
    assert client.get("/accounts/password/").status_code == 200


def test_dengbao_forces_a_change_after_90_days(person: Any, password: str, settings: Any) -> None:
    # Given a password set 91 days ago under the 等保 profile
    settings.MEDOA_PASSWORD_POLICY = "dengbao"
    client, staff = signed_in(person, password, "doctor")
    staff.user.password_changed_at = timezone.now() - timedelta(days=91)
    staff.user.save()
    # When
    response = client.get("/")
    # Then
    assert response["Location"] == "/accounts/password/"


def test_dengbao_leaves_a_recent_password_alone(person: Any, password: str, settings: Any) -> None:
    # Given
    settings.MEDOA_PASSWORD_POLICY = "dengbao"
    client, staff = signed_in(person, password, "doctor")
    staff.user.password_changed_at = timezone.now() - timedelta(days=89)
    staff.user.save()
    # When
    response = client.get("/")
    # Then
    assert response.status_code == 200


def test_asvs_never_expires_passwords(person: Any, password: str) -> None:
    # Given
    client, staff = signed_in(person, password, "doctor")
    staff.user.password_changed_at = timezone.now() - timedelta(days=400)
    staff.user.save()
    # When
    response = client.get("/")
    # Then
    assert response.status_code == 200


def test_changing_the_password_keeps_this_session_and_ends_the_others(person: Any, password: str) -> None:
    # Given two sessions and a forced change
    client, staff = signed_in(person, password, "doctor")
    other = Client()
    login(other, "doc", password)
    staff.user.must_change_password = True
    staff.user.save()
    new_password = "correct horse battery staple"
    # When
    response = client.post(
        "/accounts/password/",
        {"old_password": password, "new_password1": new_password, "new_password2": new_password},
    )
    # Then
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    staff.user.refresh_from_db()
    assert staff.user.check_password(new_password)
    assert staff.user.must_change_password is False
    assert timezone.now() - staff.user.password_changed_at < timedelta(seconds=5)
    assert AuditEntry.objects.get(action="access.password.changed").details == {"other_sessions_ended": 1}


def test_a_weak_new_password_is_refused_with_the_reason(person: Any, password: str) -> None:
    # Given
    client, staff = signed_in(person, password, "doctor")
    # When
    response = client.post(
        "/accounts/password/", {"old_password": password, "new_password1": "short", "new_password2": "short"}
    )
    # Then
    assert response.status_code == 200
    assert "密码至少 12 个字符" in response.content.decode()
    staff.user.refresh_from_db()
    assert staff.user.check_password(password)


def test_api_requests_pass_the_guard_without_a_session(client: Client) -> None:
    # When
    response = client.get("/api/v1/me")
    # Then
    assert response.status_code == 401
