"""Push to an open page, in Debian's chromium under the real CSP: a notification written by
"another process" (this test thread, without waking the web server's hub: it must learn of it
the way another process's notification reaches it) shows as a toast and moves the unread badge
within a second, without a reload; the person then acknowledges it in the inbox."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.utils import timezone

from medoa.core.notify import push
from medoa.core.notify.models import Notification
from medoa.core.notify.services import notification_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _send_as_another_process(**kwargs: Any) -> Notification:
    own, push._hub = push._hub, None
    try:
        return notification_send(**kwargs)[0]
    finally:
        push._hub = own


def test_a_notification_appears_on_an_open_page_within_a_second(
    page: Any, live_server: Any, staff_factory: Any, password: str
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    doctor = staff_factory(name="王医生", user__username="wang_doc")
    notification_send(recipients=[doctor.user], title="旧通知")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill('input[name="username"]', "wang_doc")
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/")
    page.wait_for_selector('#notify-push[data-state="open"]', state="attached")
    page.evaluate("window.__noReload = 1")
    assert page.locator("#unread-badge").inner_text().startswith("1")

    started = time.monotonic()
    n = _send_as_another_process(
        recipients=[doctor.user],
        title="危急值：3 床 血钾 6.8 mmol/L",
        body="请立即处理并确认收到",
        link="/notifications/",
        kind="critical",
        urgent=True,
        requires_ack=True,
        ack_by=timezone.now() + dt.timedelta(minutes=10),
    )
    toast = page.wait_for_selector(".notify-toast", timeout=1000)
    elapsed = time.monotonic() - started

    assert toast.get_attribute("data-id") == str(n.pk)
    assert page.locator(".notify-toast-title").inner_text() == "危急值：3 床 血钾 6.8 mmol/L"
    assert page.locator(".notify-toast-body").inner_text() == "请立即处理并确认收到"
    assert page.locator("#unread-badge").inner_text().startswith("2")
    assert page.evaluate("window.__noReload") == 1
    print(f"event-to-browser: {elapsed * 1000:.0f} ms")

    page.click(".notify-toast-ack")
    page.wait_for_url(f"{live_server.url}/notifications/?show=unread")
    page.click("button.notify-ack")
    page.wait_for_url(f"{live_server.url}/notifications/?show=unread")
    n.refresh_from_db()
    assert n.acked_at is not None
    assert problems == []
