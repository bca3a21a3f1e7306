"""The message page in a real browser on a phone: the segments and fields render, every field
says its number on hover, no CSP or script error; a screenshot lands in test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from medoa.core.access.grants import sync_role_grants
from medoa.core.org.tests.factories import staff_with_roles
from medoa.integration.hl7.models import Message
from medoa.integration.hl7.processing import process_until_idle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_message_page_on_a_phone(browser: Any, live_server: Any, department_factory: Any) -> None:
    sync_role_grants()
    root = department_factory(code="H", kind="hospital")
    ward = department_factory(code="W1", kind="ward", parent=root)
    it = staff_with_roles("it", department=ward, root=root, totp_secret=TOTP)
    raw = "\r".join(
        [
            "MSH|^~\\&|HIS|DEMO_HOSPITAL|MEDOA|MEDOA|20261126101500||ADT^A01|c1|P|2.5",
            "EVN|A01|20261126101400",
            "PID|1||MRN9^^^HIS^MR||王^五||19800101|M",
            "PV1|1|I|HISW7^501^12",
        ]
    )
    msg = Message.objects.create(
        transport="mllp",
        sending_application="HIS",
        sending_facility="DEMO_HOSPITAL",
        control_id="c1",
        message_type="ADT",
        trigger_event="A01",
        patient_id="MRN9",
        raw=raw,
    )
    process_until_idle()
    client = Client()
    client.force_login(it.user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/integration/hl7/messages/{msg.pk}/")
    assert page.locator('[data-segment="PID"]').count() == 1
    assert page.locator('.hl7-field[title="PID-3"]').inner_text().startswith("MRN9")
    assert page.locator('.hl7-comp[title="PV1-3.1"]').inner_text() == "HISW7"
    assert page.locator("#map-code").is_visible()
    page.locator('.hl7-field[title="PID-5"]').hover()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hl7-message-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/integration/hl7/?status=unmapped")
    assert page.locator(f'[data-message="{msg.pk}"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "hl7-messages-phone.png"), full_page=True)
    context.close()
    assert errors == []
