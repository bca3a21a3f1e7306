"""The login page: lockout per account and per address, one answer for every failure, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from medoa.core.access.models import LoginFailure, UserSession
from medoa.core.access.services import LOGIN_FAILED
from medoa.core.audit.models import AuditEntry

from .helpers import LOGIN_URL, LOGOUT_URL, login

pytestmark = pytest.mark.django_db

FAILED_ZH = "登录失败"


def failures_for(username: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="access.login.failed", actor_name=username).order_by("seq"))


def test_login_page_is_chinese_with_the_named_fields(client: Client) -> None:
    # When
    response = client.get(LOGIN_URL)
    # Then
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'type="submit"' in html
    assert "登录" in html


def test_right_password_signs_in_and_lands_on_the_workbench(
    client: Client, person: Any, password: str
) -> None:
    # Given
    staff = person("doctor", username="doc")
    # When
    response = login(client, "doc", password)
    # Then
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    entry = AuditEntry.objects.get(action="access.login.succeeded")
    assert entry.actor_id == staff.user.pk
    assert entry.details == {"channel": "web", "second_factor": False}
    assert UserSession.objects.filter(user=staff.user).count() == 1


def test_login_rotates_the_session_key(client: Client, person: Any, password: str) -> None:
    # Given an anonymous session with a key
    person(username="doc")
    session = client.session
    session["probe"] = "x"
    session.save()
    before = session.session_key
    client.cookies["sessionid"] = before
    # When
    login(client, "doc", password)
    # Then
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert UserSession.objects.get().session_key == after


def test_unknown_user_wrong_password_and_locked_account_get_the_same_answer(
    client: Client, person: Any, password: str, settings: Any
) -> None:
    # Given
    person(username="doc")
    person(username="locked")
    for _ in range(settings.MEDOA_LOGIN_MAX_FAILURES):
        LoginFailure.objects.create(username="locked", client_address="10.9.9.9", at=timezone.now())
    # When
    unknown = login(client, "nobody", password)
    wrong = login(client, "doc", "wrong-password")
    locked = login(client, "locked", password)
    # Then
    answers = {(r.status_code, _error_text(r)) for r in (unknown, wrong, locked)}
    assert answers == {(200, str(LOGIN_FAILED))}
    assert FAILED_ZH in _error_text(unknown)
    assert "_auth_user_id" not in client.session


def _error_text(response: Any) -> str:
    html = response.content.decode()
    start = html.index('class="errorlist nonfield login-error" role="alert">') + len(
        'class="errorlist nonfield login-error" role="alert">'
    )
    return html[start : html.index("</p>", start)]


def test_every_failure_is_audited_with_its_reason(client: Client, person: Any, password: str) -> None:
    # Given
    person(username="doc")
    # When
    login(client, "nobody", password)
    login(client, "doc", "wrong-password")
    # Then
    assert [(e.actor_id, e.outcome, e.details) for e in failures_for("nobody")] == [
        (None, "failure", {"reason": "unknown_user", "channel": "web"})
    ]
    assert [(e.actor_id, e.outcome, e.details) for e in failures_for("doc")] == [
        (None, "failure", {"reason": "bad_password", "channel": "web"})
    ]
    assert failures_for("doc")[0].client_address == "127.0.0.1"


def test_five_failures_lock_the_account_even_for_the_right_password(
    client: Client, person: Any, password: str
) -> None:
    # Given five wrong passwords from five different addresses
    person(username="doc")
    for i in range(5):
        login(client, "doc", "wrong-password", REMOTE_ADDR=f"10.0.0.{i + 1}")
    # When the right password comes from yet another address
    response = login(client, "doc", password, REMOTE_ADDR="10.0.0.99")
    # Then
    assert _error_text(response) == str(LOGIN_FAILED)
    assert "_auth_user_id" not in client.session
    reasons = [e.details["reason"] for e in failures_for("doc")]
    assert reasons == ["bad_password"] * 5 + ["locked"]
    assert LoginFailure.objects.filter(username="doc").count() == 5


def test_five_failures_lock_the_client_address_for_every_account(
    client: Client, person: Any, password: str
) -> None:
    # Given five failures against five different usernames from one address
    person(username="doc")
    for i in range(5):
        login(client, f"guess{i}", "wrong-password", REMOTE_ADDR="10.1.1.1")
    # When a real user signs in from that address, then from another
    blocked = login(client, "doc", password, REMOTE_ADDR="10.1.1.1")
    elsewhere = login(Client(), "doc", password, REMOTE_ADDR="10.1.1.2")
    # Then
    assert _error_text(blocked) == str(LOGIN_FAILED)
    assert elsewhere.status_code == 302


def test_the_lock_ends_after_the_lockout_period(
    client: Client, person: Any, password: str, settings: Any
) -> None:
    # Given five failures sixteen minutes ago
    person(username="doc")
    then = timezone.now() - timedelta(minutes=settings.MEDOA_LOGIN_LOCKOUT_MINUTES + 1)
    LoginFailure.objects.bulk_create(
        [LoginFailure(username="doc", client_address="127.0.0.1", at=then) for _ in range(5)]
    )
    # When
    response = login(client, "doc", password)
    # Then the account is open again and its failures are cleared
    assert response.status_code == 302
    assert not LoginFailure.objects.filter(username="doc").exists()


def test_four_failures_do_not_lock(client: Client, person: Any, password: str) -> None:
    # Given
    person(username="doc")
    for _ in range(4):
        login(client, "doc", "wrong-password")
    # When
    response = login(client, "doc", password)
    # Then
    assert response.status_code == 302


def test_deactivated_account_cannot_sign_in(client: Client, person: Any, password: str) -> None:
    # Given
    staff = person(username="gone")
    staff.status = "disabled"
    staff.save()
    # When
    response = login(client, "gone", password)
    # Then
    assert _error_text(response) == str(LOGIN_FAILED)
    assert failures_for("gone")[0].details["reason"] == "inactive"


def test_empty_fields_get_field_errors_and_no_failure_is_counted(client: Client) -> None:
    # When
    response = client.post(LOGIN_URL, {"username": "", "password": ""})
    # Then
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="field-error"') == 2
    assert not LoginFailure.objects.exists()


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/org/", "/org/"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/org/\x00", "/"),
        ("/\nSet-Cookie: x=1", "/"),
    ],
)
def test_only_safe_next_urls_are_followed(
    client: Client, person: Any, password: str, next_url: str, expected: str
) -> None:
    # Given
    person(username="doc")
    # When
    response = client.post(LOGIN_URL, {"username": "doc", "password": password, "next": next_url})
    # Then
    assert response["Location"] == expected


def test_logout_ends_every_session_of_the_user(person: Any, password: str) -> None:
    # Given the same user signed in in two browsers
    staff = person("doctor", username="doc")
    first, second = Client(), Client()
    login(first, "doc", password)
    login(second, "doc", password)
    assert second.get("/").status_code == 200
    # When the first browser signs out
    response = first.post(LOGOUT_URL)
    # Then both are signed out
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?reason=logout"
    assert second.get("/").status_code == 302
    assert not UserSession.objects.filter(user=staff.user).exists()
    assert AuditEntry.objects.get(action="access.logout").details == {"sessions_ended": 2}


def test_logout_by_get_only_asks_for_confirmation(person: Any, password: str) -> None:
    # Given
    person(username="doc")
    client = Client()
    login(client, "doc", password)
    # When
    response = client.get(LOGOUT_URL)
    # Then
    assert response.status_code == 200
    assert client.get("/").status_code == 200


def test_the_login_page_speaks_english_when_chosen(client: Client) -> None:
    # Given
    client.cookies["medoa_language"] = "en"
    # When
    html = client.get(LOGIN_URL).content.decode()
    # Then
    assert '<h1 class="card-title">Sign in</h1>' in html
    assert ">Username</label>" in html


def test_failures_in_english_use_the_same_english_text(client: Client, person: Any) -> None:
    # Given
    person(username="doc")
    client.cookies["medoa_language"] = "en"
    # When
    unknown = login(client, "nobody", "whatever")
    wrong = login(client, "doc", "whatever")
    # Then
    assert _error_text(unknown) == _error_text(wrong)
    assert _error_text(unknown).startswith("Sign-in failed")


def test_failures_older_than_a_day_are_pruned(client: Client) -> None:
    # Given
    LoginFailure.objects.create(
        username="old", client_address="10.3.3.3", at=timezone.now() - timedelta(days=2)
    )
    # When
    login(client, "nobody", "whatever")
    # Then
    assert list(LoginFailure.objects.values_list("username", flat=True)) == ["nobody"]
