"""The webhook pages through Debian's chromium under the real CSP, on a phone-sized screen: an IT
administrator creates a webhook (the secret shown once), sends a test to a real local server and
sees the attempt in the delivery log, then disables it. Any console error, page error or CSP
violation fails the test."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.org.models import Staff
from medoa.integration.webhooks.models import Subscription

from .conftest import PING, Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_test_send_and_disable_on_a_phone(
    browser: Any, live_server: Any, it_staff: Staff, password: str, receiver: Receiver
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill('input[name="username"]', it_staff.user.username)
        page.fill('input[name="password"]', password)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_server.url}/integration/webhooks/")
        page.click("#webhook-new")
        page.fill('input[name="name"]', "床位看板")
        page.fill('textarea[name="event_types"]', PING.name)
        page.fill('input[name="url"]', receiver.url)
        page.click("#webhook-form button[type=submit]")
        secret = page.input_value("#webhook-secret")
        sub = Subscription.objects.get()
        assert secret == sub.secret and len(secret) >= 32
        page.click("text=完成")
        page.click("#webhook-test")
        page.wait_for_selector('#webhook-attempts tr[data-ok="1"]')
        assert len(receiver.requests) == 1
        page.click("#webhook-disable")
        page.wait_for_selector("#webhook-enable")
        sub.refresh_from_db()
        assert sub.enabled is False
        assert errors == []
    finally:
        context.close()
