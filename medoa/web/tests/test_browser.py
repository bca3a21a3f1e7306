"""The shell in Debian's chromium: the workbench in Chinese on a desktop and on a phone (the menu
collapses behind its button), marking a notification read from the card, and the language switch.

Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medoa.core.notify.services import notification_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _watch_console(page: Any) -> list[str]:
    """Collect console errors and failed requests: a CSP violation shows up here."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    # A load the browser aborts because the page navigated on (a favicon, say) is not a failure.
    page.on(
        "requestfailed",
        lambda req: problems.append(f"failed: {req.url}") if req.failure != "net::ERR_ABORTED" else None,
    )
    page.on(
        "response", lambda res: problems.append(f"{res.status}: {res.url}") if res.status >= 400 else None
    )
    return problems


def _wait_until(page: Any, script: str, timeout_ms: int = 5000) -> None:
    """Poll ``script`` (page.wait_for_function would need eval, which our CSP forbids)."""
    for _ in range(timeout_ms // 50):
        if page.evaluate(script):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {script}")


def _sign_in(page: Any, live_server: Any, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture
def head_of_cardiology(hospital: Any, make_staff: Any) -> Any:
    staff = make_staff(
        "dept_head",
        "doctor",
        department=hospital["cardio"],
        name="王建国",
        employee_no="C0001",
        user__username="card_head",
    )
    notification_send(
        recipients=[staff.user], title="请审批：张敏 年假 3 天", link="/notifications/", kind="reminder"
    )
    notification_send(recipients=[staff.user], title="危急值：3 床 血钾 6.8 mmol/L", kind="critical")
    notification_send(recipients=[staff.user], title="科室周会改至周四下午", kind="info")
    return staff


def test_workbench_in_chinese_on_a_desktop(
    page: Any, live_server: Any, head_of_cardiology: Any, password: str
) -> None:
    problems = _watch_console(page)

    _sign_in(page, live_server, "card_head", password)

    assert page.locator("h1").inner_text() == "科主任工作台"
    assert page.locator(".topbar .user-name").inner_text() == "王建国"
    assert page.locator(".topbar .user-dept").inner_text() == "心血管内科"
    assert page.locator("#unread-badge").inner_text().startswith("3")
    assert page.locator(".breadcrumb").inner_text().split() == [
        "示范市第一人民医院",
        "›",
        "临床科室",
        "›",
        "心血管内科",
    ] or (
        page.locator(".breadcrumb li").all_inner_texts() == ["示范市第一人民医院", "临床科室", "心血管内科"]
    )
    assert page.locator("#sidenav").is_visible()
    assert not page.locator(".nav-toggle-btn").is_visible()
    assert page.locator("#card-notify-my-notifications .notify-title").count() == 3
    _shot(page, "workbench-zh-1280.png")
    assert problems == []


def test_workbench_on_a_phone_hides_the_menu_behind_its_button(
    browser: Any, live_server: Any, head_of_cardiology: Any, password: str
) -> None:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = _watch_console(page)
    try:
        _sign_in(page, live_server, "card_head", password)

        nav = page.locator("#sidenav")
        assert nav.bounding_box()["x"] + nav.bounding_box()["width"] <= 0
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        _shot(page, "workbench-zh-390-closed.png")

        page.click(".nav-toggle-btn")
        _wait_until(page, "document.querySelector('#sidenav').getBoundingClientRect().x >= 0")
        assert page.locator("#sidenav .nav-item.active").inner_text() == "工作台"
        assert page.locator("#sidenav .sidenav-account .user-name").inner_text() == "王建国"
        page.screenshot(path=str(ARTIFACTS / "workbench-zh-390-open.png"))

        page.click(".nav-backdrop", position={"x": 370, "y": 400})
        _wait_until(page, "document.querySelector('#sidenav').getBoundingClientRect().right <= 0")
        assert problems == []
    finally:
        context.close()


def test_marking_a_notification_read_from_the_card(
    page: Any, live_server: Any, head_of_cardiology: Any, password: str
) -> None:
    problems = _watch_console(page)
    _sign_in(page, live_server, "card_head", password)
    card = page.locator("#card-notify-my-notifications")

    card.locator(".notify-item").first.get_by_role("button", name="标为已读").click()

    _wait_until(page, "document.querySelectorAll('#my-notifications .notify-item').length === 2")
    assert page.locator("#unread-badge").inner_text().startswith("2")
    assert page.url == f"{live_server.url}/"

    card.get_by_role("button", name="全部标为已读").click()
    card.get_by_text("没有未读通知。").wait_for()
    assert page.locator("#unread-badge").is_hidden()
    assert problems == []


def test_language_switch_zh_en_zh(
    page: Any, live_server: Any, head_of_cardiology: Any, password: str
) -> None:
    problems = _watch_console(page)
    _sign_in(page, live_server, "card_head", password)
    assert page.locator("h1").inner_text() == "科主任工作台"

    page.locator(".topbar .lang-switch").get_by_role("button", name="EN").click()
    page.wait_for_selector("html[lang=en]")

    assert page.locator("h1").inner_text() == "Department head's workbench"
    assert page.locator(".topbar .logout-form button").inner_text() == "Sign out"
    assert page.locator("#card-notify-my-notifications .card-title").inner_text() == "My notifications"
    assert page.locator(".nav-item.active").inner_text() == "Workbench"
    _shot(page, "workbench-en-1280.png")

    page.locator(".topbar .lang-switch").get_by_role("button", name="中文").click()
    page.wait_for_selector("html[lang=zh-Hans]")
    assert page.locator("h1").inner_text() == "科主任工作台"
    assert problems == []


def test_inbox_login_and_error_pages_render_cleanly(
    page: Any, live_server: Any, head_of_cardiology: Any, password: str
) -> None:
    for i in range(22):
        notification_send(recipients=[head_of_cardiology.user], title=f"排班调整通知 第{i + 1}号")
    problems = _watch_console(page)

    page.goto(f"{live_server.url}/accounts/login/")
    _shot(page, "login-zh.png")
    _sign_in(page, live_server, "card_head", password)
    page.goto(f"{live_server.url}/notifications/")
    assert page.locator("h1").inner_text() == "通知"
    assert page.locator(".pager-info").inner_text() == "第 1 页，共 2 页"
    _shot(page, "inbox-zh-1280.png")

    page.get_by_role("button", name="全部标为已读").click()
    page.wait_for_selector(".notify-inbox")
    assert page.locator(".notify-item.unread").count() == 0
    assert page.locator("#unread-badge").is_hidden()
    assert problems == []

    response = page.goto(f"{live_server.url}/no/such/page/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "页面不存在"
    _shot(page, "error-404-zh.png")
