"""The audit viewer in Debian's chromium: an audit administrator signs in with a TOTP code,
filters by action, opens an entry and checks the chain; a doctor is turned away."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from medoa.core.audit.services import audit_record

from .conftest import TOTP_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Any, live_server: Any, username: str, password: str, next_path: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_load_state()


def _seed() -> None:
    audit_record(actor=None, actor_name="ghost", action="access.login.failed", outcome="failure")
    audit_record(
        actor=None,
        actor_name="hr",
        action="org.staff.created",
        target=("org.staff", 7, "张三"),
        details={"name": "张三", "department": "心血管内科"},
    )


def test_the_audit_admin_filters_opens_an_entry_and_verifies_the_chain(
    page: Any, live_server: Any, auditor: Any, password: str
) -> None:
    # given
    _seed()

    # when: signing in with password and TOTP code
    _sign_in(page, live_server, "auditor", password, "/audit/")
    page.wait_for_url(f"{live_server.url}/accounts/login/verify/")
    page.fill('input[name="otp"]', pyotp.TOTP(TOTP_SECRET).now())
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/audit/")

    # then: the log, in Chinese, not cached
    assert page.locator("h1").first.inner_text() == "审计日志"
    response = page.goto(f"{live_server.url}/audit/")
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"

    # when: filtering by action
    page.fill("#id_action", "org.staff")
    page.click('[data-testid="audit-filter-submit"]')
    page.wait_for_url("**/audit/?*action=org.staff*")

    # then
    rows = page.locator('[data-testid="audit-entries"] tbody tr')
    assert rows.count() == 1
    assert "org.staff.created" in rows.first.inner_text()

    # when: opening the entry
    rows.first.locator("a.audit-action").click()
    page.wait_for_url("**/audit/*/")

    # then
    assert page.locator('[data-testid="audit-entry-action"]').inner_text() == "org.staff.created"
    details = page.locator('[data-testid="audit-details"]').inner_text()
    assert '"name": "张三"' in details and '"department": "心血管内科"' in details
    assert len(page.locator('[data-testid="audit-entry-hash"]').inner_text()) == 64

    # when: checking the chain from the list (htmx)
    page.goto(f"{live_server.url}/audit/")
    page.click('[data-testid="verify-chain"]')

    # then
    result = page.locator('[data-testid="chain-verify-result"]')
    result.wait_for()
    assert result.inner_text().startswith("链条完整：已验证 ")
    assert page.url == f"{live_server.url}/audit/"


def test_a_doctor_gets_403_at_the_audit_log(page: Any, live_server: Any, doctor: Any, password: str) -> None:
    # given
    _seed()
    _sign_in(page, live_server, "doc", password, "/")
    page.wait_for_url(f"{live_server.url}/")

    # then: no menu entry
    assert page.locator('#sidenav a[href="/audit/"]').count() == 0

    # when
    response = page.goto(f"{live_server.url}/audit/")

    # then
    assert response.status == 403
    body = page.content()
    assert "org.staff.created" not in body and "ghost" not in body
