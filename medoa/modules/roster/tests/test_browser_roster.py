"""The roster in Debian's chromium, under the real CSP, on the demo hospital: 心血管内科一病区's head
nurse (card_hn) generates next month's roster for the ward's 20 nurses, edits a cell into a
violation (a night for the nurse in her 7th month of pregnancy) and sees it flagged with the
reason, puts it back, publishes; a nurse (card_n01) opens "my shifts" on her phone and sees them.
Any console error, page error or CSP violation fails the test.

Screenshots go to test-artifacts/roster-*.png."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from medoa.core.access.grants import sync_role_grants
from medoa.core.notify.models import Notification
from medoa.core.org.demo import demo_load as org_demo_load
from medoa.core.org.models import Department, Staff
from medoa.core.org.tests.factories import TEST_PASSWORD
from medoa.modules.roster.demo import demo_load as roster_demo_load
from medoa.modules.roster.models import Roster, RosterCell, StaffProfile, WardRule

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"
TIME_LIMIT = 20


class Session:
    def __init__(self, browser: Any, live_server: Any, *, phone: bool = False) -> None:
        viewport = {"width": 390, "height": 844} if phone else {"width": 1440, "height": 900}
        self.context = browser.new_context(locale="zh-CN", viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.url = live_server.url
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def sign_in(self, username: str) -> None:
        self.page.goto(f"{self.url}/accounts/login/")
        self.page.fill('input[name="username"]', username)
        self.page.fill('input[name="password"]', TEST_PASSWORD)
        self.page.click("form button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"roster-{name}.png"), full_page=True)


@pytest.fixture
def sessions(browser: Any, live_server: Any) -> Iterator[list[Session]]:
    opened: list[Session] = []
    yield opened
    errors = [e for s in opened for e in s.errors]
    for s in opened:
        s.context.close()
    assert errors == []


@pytest.fixture
def demo_ward() -> Department:
    org_demo_load(password=TEST_PASSWORD)
    sync_role_grants()
    roster_demo_load(password=TEST_PASSWORD)
    return Department.objects.get(code="CARD-W1")


def next_month() -> dt.date:
    today = dt.date.today()
    return (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def test_head_nurse_generates_edits_publishes_and_a_nurse_sees_her_shifts(
    demo_ward: Department, sessions: list[Session], browser: Any, live_server: Any
) -> None:
    month = next_month()
    nurses = StaffProfile.objects.filter(ward=demo_ward, rostered=True)
    assert nurses.count() == 20  # card_n01 … card_n20; the head nurse plans and is not rostered
    pregnant = Staff.objects.get(user__username="card_n04")
    assert StaffProfile.objects.get(staff=pregnant).protected_on(month)

    # the head nurse opens next month's roster of her ward from the menu
    head = Session(browser, live_server)
    sessions.append(head)
    head.sign_in("card_hn")
    head.page.goto(f"{head.url}/roster/")
    head.page.click(f"a[href='/roster/ward/{demo_ward.pk}/{month:%Y-%m}/']")
    expect(head.page.locator("#roster-grid")).to_be_visible()

    # generates it (with a progress indicator while the solver runs)
    head.page.fill("#time-limit", str(TIME_LIMIT))
    head.page.click("#generate-btn")
    expect(head.page.locator("#generate-progress")).to_be_visible()
    expect(head.page.locator("#solver-status")).to_have_attribute(
        "data-status", re.compile("feasible|optimal"), timeout=(TIME_LIMIT + 60) * 1000
    )
    expect(head.page.locator("#solver-status")).to_have_text(re.compile("最优|可行"))
    expect(head.page.locator("#roster-grid tbody tr")).to_have_count(20)
    roster = Roster.objects.get(ward=demo_ward, month=month)
    assert RosterCell.objects.filter(roster=roster).count() == 20 * len(roster.days)
    assert roster.solver_status in ("feasible", "optimal")
    expect(head.page.locator("#hard-count")).to_have_text("0")
    head.shot("generated")

    # edits a cell into a violation: a night for the pregnant nurse, flagged with the reason
    day = month.replace(day=10)
    cell = head.page.locator(f'#roster-grid tr[data-staff="{pregnant.pk}"] td[data-date="{day.isoformat()}"]')
    select = cell.locator("select")
    before = select.input_value()
    select.select_option("N")
    expect(cell).to_have_class(re.compile(r"\bhas-violation\b"))
    expect(cell).to_have_attribute("title", re.compile("孕|pregnant"))
    expect(head.page.locator("#violation-list")).to_contain_text(pregnant.name)
    assert head.page.locator("#hard-count").inner_text() != "0"
    head.shot("violation")

    # puts it back: the mark goes
    select.select_option(before)
    expect(cell).not_to_have_class(re.compile(r"\bhas-violation\b"))
    expect(head.page.locator("#hard-count")).to_have_text("0")

    # locks a cell in lock mode
    other = head.page.locator(
        f'#roster-grid tr[data-staff="{pregnant.pk}"] td[data-date="{month.replace(day=12).isoformat()}"]'
    )
    head.page.click("#lock-mode")
    other.click()
    expect(other).to_have_class(re.compile(r"\bis-locked\b"))
    head.page.click("#lock-mode")
    assert RosterCell.objects.get(roster=roster, staff=pregnant, date=month.replace(day=12)).locked

    # publishes (the "despite violations" box sits beside its words, not stretched like a field)
    box = head.page.locator("input[name=allow_violations]").bounding_box()
    words = head.page.locator("#publish-form label.check").bounding_box()
    assert box is not None and words is not None and box["width"] < 40
    assert box["x"] - words["x"] < 10
    head.page.click("#publish-btn")
    head.page.wait_for_load_state()
    expect(head.page.locator("#roster-status")).to_have_text(re.compile("已发布|Published"))
    roster.refresh_from_db()
    assert roster.status == "published"
    assert Notification.objects.filter(recipient__staff__roster_profile__ward=demo_ward).count() == 20

    # the ward's settings: max consecutive nights made soft, saved
    head.page.click("text=排班设置")
    head.page.uncheck('input[name="rule-max_consecutive_nights-hard"]')
    head.page.click("#rules-form button[type=submit]")
    expect(head.page.locator(".messages")).to_contain_text("已保存")
    assert WardRule.objects.get(ward=demo_ward, code="max_consecutive_nights").hard is False
    head.shot("settings")

    # a nurse sees her shifts on her phone
    nurse = Session(browser, live_server, phone=True)
    sessions.append(nurse)
    nurse.sign_in("card_n01")
    nurse.page.goto(f"{nurse.url}/roster/my/?month={month:%Y-%m}")
    me = Staff.objects.get(user__username="card_n01")
    worked = (
        RosterCell.objects.filter(roster=roster, staff=me)
        .exclude(shift_type__kind="off")
        .exclude(shift_type=None)
    )
    items = nurse.page.locator("#my-shifts li")
    expect(items).to_have_count(len(roster.days))
    expect(
        nurse.page.locator("#my-shifts li.kind-day, #my-shifts li.kind-evening, #my-shifts li.kind-night")
    ).to_have_count(worked.count())
    first = worked.order_by("date").select_related("shift_type").first()
    assert first is not None and first.shift_type is not None
    expect(nurse.page.locator(f'#my-shifts li[data-date="{first.date.isoformat()}"]')).to_contain_text(
        first.shift_type.name
    )
    expect(nurse.page.locator("#ical-url")).to_contain_text("/roster/ical/")
    nurse.shot("my-shifts")
