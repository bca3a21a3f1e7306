"""On a phone (390 px, Debian's chromium, the real CSP): the booking form's live feedback names
the booking in the way and clears when the time moves; the OR nurse taps the case through in
room → incision → ended. Any console error or page error fails the test."""

from __future__ import annotations

from typing import Any

import pytest

from medoa.core.org.tests.factories import TEST_PASSWORD
from medoa.modules.resources import operating
from medoa.modules.resources.models_or import ORBooking

from .test_or_support import *  # noqa: F403
from .test_or_support import at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def test_live_conflict_feedback_and_status_buttons_on_a_phone(
    browser: Any, live_server: Any, orp, ors
) -> None:
    first = operating.booking_request(
        actor=orp.surgeon.user,
        room=ors.r1,
        patient_mrn="M1",
        procedure="胆囊切除术",
        surgeon=orp.surgeon,
        planned_start=at(9),
        duration_minutes=90,
    )
    operating.booking_decide(actor=orp.or_hn.user, booking=first, approve=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _login(page, live_server.url, "surg2")
        page.goto(f"{live_server.url}/resources/or/book/?date={at(0).date().isoformat()}")
        page.select_option('select[name="room"]', "OR-01")
        page.fill('input[name="time"]', "10:00")
        page.select_option('select[name="surgeon"]', str(orp.surgeon2.pk))
        page.wait_for_selector("#or-feedback.or-bad")
        assert f"#{first.pk}" in page.locator("#or-feedback").inner_text()
        page.fill('input[name="time"]', "11:30")
        page.wait_for_selector("#or-feedback.or-ok")
        page.fill('input[name="procedure"]', "疝修补术")
        page.fill('input[name="patient_mrn"]', "M2")
        page.click("form#or-book button[type=submit]")
        page.wait_for_url("**/resources/or/?date=*")
        assert ORBooking.objects.filter(surgeon=orp.surgeon2, status="requested").count() == 1
        context.clear_cookies()

        _login(page, live_server.url, "or_n1")
        page.goto(f"{live_server.url}/resources/or/bookings/{first.pk}/")
        for status in ("in_room", "incision", "ended"):
            button = page.locator(f'button[value="{status}"]')
            box = button.bounding_box()
            assert box is not None and box["width"] > 300  # one thumb, one tap
            button.click()
            page.wait_for_load_state()
        first.refresh_from_db()
        assert first.status == "ended"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == []
    finally:
        context.close()
