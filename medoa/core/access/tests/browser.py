"""A person's browser session for the page tests (Debian's chromium through Playwright, the
``browser`` fixture of the root conftest): signing in, going to a page, screenshots into
test-artifacts/, and every console error or page error (a CSP violation is one) recorded, so that
the ``sessions`` fixture helper fails the test on any of them.

An engine's browser tests subclass ``Session`` to name their screenshots and size their window::

    class Session(BrowserSession):
        prefix = "forms"

    @pytest.fixture
    def session(browser, live_server):
        yield from sessions(Session, browser, live_server)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"


class BrowserSession:
    """One person's browser context, recording every console error and page error."""

    prefix = "page"  # screenshots are test-artifacts/<prefix>-<name>.png
    width = 1280
    height = 860

    def __init__(self, browser: Any, live_server: Any, *, width: int = 0, height: int = 0) -> None:
        viewport = {"width": width or self.width, "height": height or self.height}
        self.context = browser.new_context(locale="zh-CN", viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.url = live_server.url
        self.errors: list[str] = []
        # 4xx answers the test provokes on purpose (a refused deploy, a form with errors): Chrome
        # logs each as "Failed to load resource"; those, and only those, are expected
        self.expected_refusals: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        path = where.removeprefix(self.url).split("?")[0]
        if "status of 400" in message.text and path in self.expected_refusals:
            self.expected_refusals.remove(path)
            return
        self.errors.append(f"console error: {message.text} ({where})")

    def expect_refusal(self, path: str) -> None:
        """The next 400 answer from ``path`` is intended (and logged by Chrome as an error)."""
        self.expected_refusals.append(path)

    def sign_in(self, username: str, password: str) -> None:
        self.page.goto(f"{self.url}/accounts/login/")
        self.page.fill('input[name="username"]', username)
        self.page.fill('input[name="password"]', password)
        self.page.click("form button[type=submit]")
        self.page.wait_for_load_state()

    def go(self, path: str) -> None:
        self.page.goto(f"{self.url}{path}")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{name}.png"), full_page=True)

    def wait_text(self, selector: str, text: str) -> None:
        """Wait until ``selector``'s text contains ``text`` (wait_for_function with a string is
        blocked by the CSP: poll instead)."""
        for _ in range(100):
            if text in self.page.locator(selector).inner_text():
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{selector}: {self.page.locator(selector).inner_text()!r} lacks {text!r}")


S = TypeVar("S", bound=BrowserSession)


def sessions(cls: type[S], browser: Any, live_server: Any) -> Iterator[Callable[..., S]]:
    """The body of a ``session`` fixture: yields ``open_session(**kw)``; afterwards closes every
    session opened and fails on any console or page error, or an expected 400 that never came."""
    opened: list[S] = []

    def open_session(**kw: Any) -> S:
        s = cls(browser, live_server, **kw)
        opened.append(s)
        return s

    yield open_session
    errors = [e for s in opened for e in s.errors]
    errors += [f"expected a 400 from {p}" for s in opened for p in s.expected_refusals]
    for s in opened:
        s.context.close()
    assert errors == []
