"""Signing in through Debian's chromium: Chinese login to the workbench, lockout, TOTP for admins."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from medoa.core.access.models import User

from .helpers import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAILED_ZH = "登录失败：用户名、密码或验证码错误，或因失败次数过多账号已被暂时锁定。请稍后再试。"


def _submit_login(page: Any, username: str, password: str) -> None:
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_load_state()


def test_login_in_chinese_lands_on_the_workbench(
    page: Any, live_server: Any, person: Any, password: str
) -> None:
    # Given
    person("doctor", username="card_doc1", name="李明")
    # When an anonymous visit to the workbench is sent to the login page
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/accounts/login/?next=/"
    assert page.locator("h1").inner_text() == "登录"
    assert page.locator('label[for="id_username"]').inner_text() == "用户名"
    _submit_login(page, "card_doc1", password)
    # Then
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".topbar .user-name").inner_text() == "李明"
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert session_cookie["httpOnly"] is True


def test_five_wrong_passwords_lock_the_account_with_the_same_message(
    page: Any, live_server: Any, person: Any, password: str
) -> None:
    # Given
    person("doctor", username="card_doc2")
    page.goto(f"{live_server.url}/accounts/login/")
    # When five wrong passwords are tried
    for _ in range(5):
        _submit_login(page, "card_doc2", "wrong-password")
        assert page.locator(".login-error").inner_text() == FAILED_ZH
    # Then the right password fails with the very same message
    _submit_login(page, "card_doc2", password)
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    assert page.locator(".login-error").inner_text() == FAILED_ZH
    # And an unknown user sees the same
    _submit_login(page, "nobody", password)
    assert page.locator(".login-error").inner_text() == FAILED_ZH


def test_an_administrator_signs_in_with_a_totp_code(
    page: Any, live_server: Any, totp_user: User, password: str
) -> None:
    # Given
    page.goto(f"{live_server.url}/accounts/login/")
    # When
    _submit_login(page, "secadmin", password)
    page.wait_for_url(f"{live_server.url}/accounts/login/verify/")
    assert page.locator("h1").inner_text() == "两步验证"
    page.fill('input[name="otp"]', totp_code())
    page.click('button[type="submit"]')
    # Then
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator('#sidenav a[href="/accounts/grants/"]').count() == 1


def test_an_administrator_without_totp_must_enrol_first(
    page: Any, live_server: Any, person: Any, password: str
) -> None:
    # Given
    staff = person("audit_admin", username="auditor")
    page.goto(f"{live_server.url}/accounts/login/")
    # When
    _submit_login(page, "auditor", password)
    # Then the enrolment page with its QR code comes first
    page.wait_for_url(f"{live_server.url}/accounts/totp/")
    assert page.locator("img[src^='data:image/svg+xml']").is_visible()
    secret = page.locator(".totp-secret").inner_text().replace(" ", "")
    page.fill('input[name="otp"]', pyotp.TOTP(secret).now())
    page.locator("main button[type='submit']").click()
    page.wait_for_url(f"{live_server.url}/")
    assert User.objects.get(pk=staff.user.pk).has_totp
