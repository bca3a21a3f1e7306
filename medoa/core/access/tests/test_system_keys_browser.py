"""The system key pages in Debian's chromium, on a desk and on a phone: 信息中心 creates a key (shown
once), the key works, then is revoked after confirmation. No console or CSP error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from medoa.core.access.models import SystemApiKey
from medoa.core.access.system_keys import authenticate_system_key

from .browser import BrowserSession, sessions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Session(BrowserSession):
    prefix = "system-keys"


@pytest.fixture
def session(browser: Any, live_server: Any) -> Iterator[Callable[..., Session]]:
    yield from sessions(Session, browser, live_server)


@pytest.mark.parametrize("width", [1280, 390])
def test_it_creates_uses_and_revokes_a_key(
    session: Callable[..., Session], person: Any, password: str, width: int
) -> None:
    # Given 信息中心 signed in
    person("it", username="it1", name="信息中心小张")
    s = session(width=width)
    s.sign_in("it1", password)
    # When they open the page from the admin menu and create a key
    s.go("/accounts/system-keys/")
    assert s.page.locator("h1").inner_text() == "系统接口密钥"
    s.page.click("text=新建密钥")
    s.page.fill('input[name="name"]', "人事系统")
    s.page.fill('input[name="system"]', "HR 6.2")
    s.page.check('input[value="events:publish:hr.*"]')
    s.page.fill('textarea[name="extra_scopes"]', "fhir:Practitioner")
    s.shot(f"form-{width}")
    s.page.click("text=创建密钥")
    s.page.wait_for_load_state()
    # Then the key is shown once, and it works
    raw = s.page.input_value("#systemkey-raw")
    assert raw.startswith("msk_")
    s.shot(f"created-{width}")
    key = authenticate_system_key(raw)
    assert key is not None and key.scopes == ["events:publish:hr.*", "fhir:Practitioner"]
    body = {
        "type": "hr.certificate.expiring",
        "payload": {"staff": "it1", "certificate": "x", "expires_on": "2027-01-01"},
    }
    assert (
        Client().post("/api/v1/events", body, content_type="application/json", HTTP_X_API_KEY=raw).status_code
        == 202
    )
    # When they revoke it, confirming
    s.go("/accounts/system-keys/")
    assert raw not in s.page.content()
    s.shot(f"list-{width}")
    s.page.click("text=撤销")
    s.page.wait_for_load_state()
    s.page.click("form button.btn-danger")
    s.page.wait_for_load_state()
    # Then
    assert SystemApiKey.objects.get().revoked_at is not None
    assert authenticate_system_key(raw) is None
    assert "已撤销" in s.page.content()
