"""The doctor's phone: the workbench card shouts, one tap acknowledges, the action taken closes
the critical value — through Debian's chromium under the real CSP at 390 px. Any console error,
page error or failed response fails the test (the closing form's own 422 is provoked on purpose)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.services import publish
from medoa.core.org.tests.factories import TEST_PASSWORD
from medoa.modules.quality.models import AlertStatus, CriticalAlert

from .conftest import payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_acknowledge_and_close_on_a_phone(browser: Any, live_server: Any, hospital: Any) -> None:
    data = payload()
    with transaction.atomic():
        publish("clinical.critical_value.received", data, key="browser:1")
    dispatch_until_idle()
    alert = CriticalAlert.objects.get()
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill('input[name="username"]', hospital.doctor.user.username)
        page.fill('input[name="password"]', TEST_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_server.url}/")
        card = page.locator("#crit-card")
        assert "血钾" in card.inner_text() and "6.9" in card.inner_text()
        card.locator("a.crit-card-item").first.click()
        page.wait_for_selector("#crit-ack")
        box = page.locator("#crit-ack").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] >= 50  # one thumb, one tap
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.click("#crit-ack")
        page.wait_for_selector("#crit-status")
        alert.refresh_from_db()
        assert alert.status == AlertStatus.ACKNOWLEDGED and alert.timely is True
        assert page.locator("#crit-ack").count() == 0
        page.fill("#crit-action", "复查血钾，予葡萄糖酸钙静推，已告知家属")
        page.click(".crit-close-btn")
        page.wait_for_selector("#crit-timeline blockquote")
        alert.refresh_from_db()
        assert alert.status == AlertStatus.CLOSED and alert.action_taken.startswith("复查血钾")
        assert "已关闭" in page.locator("#crit-status").inner_text()
        assert errors == []
    finally:
        context.close()
