"""The decision table editor through Debian's chromium, under the real CSP: the designer opens a
deployed table in dmn-js, edits a cell, deploys, and evaluates the new version in the test panel
(outputs and matched rules shown, the matched row marked). A refused deploy lists its problems. Any
console error, page error or CSP violation fails the test.

Screenshots go to test-artifacts/rules-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medoa.core.access.grants import sync_role_grants
from medoa.core.access.policy import forget_principal
from medoa.core.org.choices import RoleScope
from medoa.core.org.models import Role, RoleAssignment, Staff
from medoa.engines.rules import services
from medoa.engines.rules.models import DecisionDefinition
from medoa.engines.rules.tests.test_api_decisions import TRIAGE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"


class Session:
    def __init__(self, browser: Any, live_server: Any) -> None:
        self.context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.url = live_server.url
        self.errors: list[str] = []
        self.expected_refusals = 0
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if ("status of 400" in message.text or "status of 422" in message.text) and self.expected_refusals:
            self.expected_refusals -= 1
            return
        where = message.location or {}
        self.errors.append(
            f"console error: {message.text} ({where.get('url', '')}:{where.get('lineNumber')}:"
            f"{where.get('columnNumber')})"
        )

    def sign_in(self, username: str, password: str) -> None:
        self.page.goto(f"{self.url}/accounts/login/")
        self.page.fill('input[name="username"]', username)
        self.page.fill('input[name="password"]', password)
        self.page.click("form button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"rules-{name}.png"), full_page=True)


@pytest.fixture
def session(browser: Any, live_server: Any) -> Iterator[Session]:
    s = Session(browser, live_server)
    yield s
    s.context.close()
    for error in s.errors:
        print(error[-160:])
    assert s.errors == []


@pytest.fixture
def designer(staff_factory: Any, department_factory: Any) -> Staff:
    sync_role_grants()
    root = department_factory(code="H", name_zh="示范医院", name_en="Hospital", kind="hospital")
    staff: Staff = staff_factory(department=root, user__username="it_zhou")
    role = Role.objects.get(code="it")
    assert role.scope != RoleScope.DEPARTMENT
    RoleAssignment.objects.create(staff=staff, role=role, department=root)
    forget_principal(staff.user)
    return staff


def _cell(page: Any, row: str, col: str) -> Any:
    return page.locator(f'#dmn-canvas td[data-row-id="{row}"][data-col-id="{col}"]')


def test_edit_deploy_and_evaluate(session: Session, designer: Staff, password: str) -> None:
    services.decision_deploy(actor=designer.user, xml=TRIAGE)
    page = session.page
    session.sign_in("it_zhou", password)
    page.goto(f"{session.url}/rules/decisions/")
    page.click('#decision-table tr[data-key="triage_level"] a')
    page.wait_for_selector("#dmn-editor.rules-ready")
    assert page.locator("#dmn-views button.active").inner_text() == "分诊级别"
    assert page.locator("#dmn-test-decision").input_value() == "triage_level"
    session.shot("editor")

    # edit the output of rule 4 ("候诊区" → "门诊") in the table
    cell = _cell(page, "r4", "o2")
    cell.click()
    editable = cell.locator(".cm-content")
    editable.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('"门诊"')
    page.click("#dmn-test-title")  # leave the cell

    page.click("#dmn-deploy")
    page.wait_for_selector("#dmn-status.rules-status-ok")
    assert "v2" in page.locator("#dmn-status").inner_text()
    latest = DecisionDefinition.objects.get(key="triage_level").latest_version
    assert latest is not None
    assert latest.version == 2
    assert '"门诊"' in latest.dmn_xml
    assert "候诊区" not in latest.dmn_xml

    # the test panel evaluates the new version and marks the matched row
    page.fill('#dmn-test-inputs input[data-name="heart_rate"]', "70")
    page.fill('#dmn-test-inputs input[data-name="spo2"]', "98")
    page.click("#dmn-evaluate")
    page.wait_for_selector("#dmn-outputs:not([hidden])")
    assert (
        page.locator("#dmn-outputs").inner_text().replace(" ", "").replace("\n", "")
        == '{"level":4,"area":"门诊"}'
    )
    assert page.locator("#dmn-matched li").evaluate_all("items => items.map(i => i.dataset.ruleId)") == ["r4"]
    assert _cell(page, "r4", "o2").get_attribute("class") is not None
    assert "rules-matched" in (_cell(page, "r4", "o2").get_attribute("class") or "")
    session.shot("evaluated")

    # an evaluation without an answer shows the error and marks the rules concerned
    services.decision_deploy(
        actor=designer.user, xml=TRIAGE.replace('hitPolicy="FIRST"', 'hitPolicy="UNIQUE"')
    )
    page.fill('#dmn-test-inputs input[data-name="heart_rate"]', "160")
    page.fill('#dmn-test-inputs input[data-name="spo2"]', "80")
    session.expected_refusals = 1
    page.click("#dmn-evaluate")
    page.wait_for_selector("#dmn-test-message.rules-test-error")
    assert page.locator("#dmn-test-message").inner_text() == (
        "命中策略 UNIQUE 只允许一条规则匹配，但规则 1, 2, 4 都匹配了"
    )
    assert "rules-matched" in (_cell(page, "r1", "o1").get_attribute("class") or "")


def test_refused_deploy_lists_problems(session: Session, designer: Staff, password: str) -> None:
    page = session.page
    session.sign_in("it_zhou", password)
    page.goto(f"{session.url}/rules/decisions/new/")
    page.wait_for_selector("#dmn-editor.rules-ready")
    cell = _cell(page, "Rule_1", "Input_1")
    cell.click()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type("<<10")
    page.click("#dmn-test-title")
    session.expected_refusals = 1
    page.click("#dmn-deploy")
    page.wait_for_selector("#dmn-problems:not([hidden])")
    text = page.locator("#dmn-problem-list").inner_text()
    assert "inputEntry InputEntry_1" in text
    assert "“<<10”" in text
    assert DecisionDefinition.objects.count() == 0
    session.shot("refused")
