"""The dean's cockpit in Debian's chromium under the real CSP: KPI cards, the ECharts drill-down
by department and the gauge are drawn; the screenshot goes to test-artifacts/ (a test never
rewrites a tracked file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medoa.core.org.tests.factories import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"


def test_cockpit_draws_real_charts(browser: Any, live_server: Any, hospital: Any) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill('input[name="username"]', hospital.dean.user.username)
        page.fill('input[name="password"]', TEST_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_server.url}/reports/")
        page.fill("#c-from", "2026-03-01")
        page.fill("#c-to", "2026-03-10")
        page.click("#cockpit-filter button[type=submit]")
        page.locator("#kpi-grid .kpi").nth(6).wait_for()
        page.locator("#records tbody tr").first.wait_for()
        page.locator("#kpi-grid .kpi-value", has_text="14.7%").wait_for()
        assert "14.7%" in page.locator("#kpi-grid").inner_text()
        assert page.locator("#chart-departments canvas").count() == 1
        assert page.locator("#chart-gauge canvas").count() == 1
        page.wait_for_timeout(800)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "cockpit.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()
