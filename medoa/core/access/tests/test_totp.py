"""TOTP: enrolment with a QR code, the second sign-in step, ±1 step, no replay."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from django.test import Client

from medoa.core.access.models import LoginFailure, User
from medoa.core.access.services import LOGIN_FAILED
from medoa.core.access.sessions import PENDING_KEY, TOTP_SETUP_KEY
from medoa.core.access.totp import totp_consume
from medoa.core.audit.models import AuditEntry

from .helpers import VERIFY_URL, login, totp_code

pytestmark = pytest.mark.django_db


def test_a_totp_user_is_asked_for_a_code_after_the_password(
    client: Client, totp_user: User, password: str
) -> None:
    # When
    response = login(client, "secadmin", password)
    # Then the password alone does not sign in
    assert response.status_code == 302
    assert response["Location"] == VERIFY_URL
    assert "_auth_user_id" not in client.session
    assert client.session[PENDING_KEY]["user"] == totp_user.pk
    page = client.get(VERIFY_URL).content.decode()
    assert 'name="otp"' in page


def test_the_right_code_completes_the_sign_in(client: Client, totp_user: User, password: str) -> None:
    # Given
    login(client, "secadmin", password)
    # When
    response = client.post(VERIFY_URL, {"otp": totp_code()})
    # Then
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == totp_user.pk
    assert PENDING_KEY not in client.session
    assert client.get("/").status_code == 200
    assert AuditEntry.objects.get(action="access.login.succeeded").details == {
        "channel": "web",
        "second_factor": True,
    }


def test_a_wrong_code_fails_with_the_common_message_and_counts(
    client: Client, totp_user: User, password: str
) -> None:
    # Given
    login(client, "secadmin", password)
    # When
    response = client.post(VERIFY_URL, {"otp": "000000" if totp_code() != "000000" else "111111"})
    # Then
    assert str(LOGIN_FAILED) in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginFailure.objects.filter(username="secadmin").count() == 1
    failure = AuditEntry.objects.get(action="access.login.failed")
    assert failure.details == {"reason": "otp_invalid", "channel": "web"}


def test_the_verify_page_without_a_pending_sign_in_goes_back_to_login(client: Client) -> None:
    # When
    response = client.get(VERIFY_URL)
    # Then
    assert response["Location"] == "/accounts/login/?reason=expired"


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_one_step_either_side_are_accepted(totp_user: User, offset: int) -> None:
    assert totp_consume(totp_user, totp_code(offset)) is True


@pytest.mark.parametrize("offset", [-3, 3])
def test_codes_further_away_are_refused(totp_user: User, offset: int) -> None:
    assert totp_consume(totp_user, totp_code(offset)) is False


def test_a_code_is_accepted_only_once(totp_user: User) -> None:
    # Given
    code = totp_code()
    assert totp_consume(totp_user, code) is True
    # When the same code (or an older one) comes again
    again = totp_consume(User.objects.get(pk=totp_user.pk), code)
    older = totp_consume(User.objects.get(pk=totp_user.pk), totp_code(-1))
    # Then
    assert (again, older) == (False, False)


def test_replaying_a_code_at_sign_in_fails(totp_user: User, password: str) -> None:
    # Given one browser signed in with a code
    code = totp_code()
    first = Client()
    login(first, "secadmin", password)
    assert first.post(VERIFY_URL, {"otp": code}).status_code == 302
    # When a second browser replays the same code
    second = Client()
    login(second, "secadmin", password)
    response = second.post(VERIFY_URL, {"otp": code})
    # Then
    assert str(LOGIN_FAILED) in response.content.decode()
    assert "_auth_user_id" not in second.session


def test_enrolment_shows_a_qr_code_and_the_secret(person: Any, password: str) -> None:
    # Given an administrator without TOTP
    person("sys_admin", username="admin1")
    client = Client()
    login(client, "admin1", password)
    # When
    page = client.get("/accounts/totp/").content.decode()
    # Then
    secret = client.session[TOTP_SETUP_KEY]
    assert re.search(r'<img src="data:image/svg\+xml[^"]+"', page)
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page
    assert "otpauth://totp/MedOA:admin1?secret=" + secret in page


def test_enrolment_is_confirmed_by_a_code_and_then_the_shell_opens(person: Any, password: str) -> None:
    # Given
    staff = person("sys_admin", username="admin1")
    client = Client()
    login(client, "admin1", password)
    client.get("/accounts/totp/")
    secret = client.session[TOTP_SETUP_KEY]
    # When
    response = client.post("/accounts/totp/", {"otp": pyotp.TOTP(secret).now()})
    # Then
    assert response.status_code == 302
    user = User.objects.get(pk=staff.user.pk)
    assert user.has_totp
    assert user.totp_secret == secret
    assert client.get("/").status_code == 200
    assert AuditEntry.objects.filter(action="access.totp.enabled", actor=user).count() == 1


def test_enrolment_refuses_a_wrong_code(person: Any, password: str) -> None:
    # Given
    staff = person("sys_admin", username="admin1")
    client = Client()
    login(client, "admin1", password)
    client.get("/accounts/totp/")
    secret = client.session[TOTP_SETUP_KEY]
    wrong = "123456" if pyotp.TOTP(secret).now() != "123456" else "654321"
    # When
    response = client.post("/accounts/totp/", {"otp": wrong})
    # Then
    assert response.status_code == 200
    assert "验证码不正确" in response.content.decode()
    assert not User.objects.get(pk=staff.user.pk).has_totp


def test_enrolment_refuses_a_malformed_code(person: Any, password: str) -> None:
    # Given
    person("sys_admin", username="admin1")
    client = Client()
    login(client, "admin1", password)
    # When
    response = client.post("/accounts/totp/", {"otp": "12ab"})
    # Then
    assert "请输入身份验证器应用中的 6 位验证码" in response.content.decode()
