"""On a phone: a nurse opens the documents sent to her department, reads one and marks it read;
the dean reads the statistics page. Screenshots in test-artifacts/approvals-proc-*.png."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.tests.browser import BrowserSession, sessions
from medoa.core.org.tests.factories import TEST_PASSWORD
from medoa.modules.approvals.models import DocumentReceipt

from .proc_support import *  # noqa: F403
from .proc_support import decide_all, install, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Phone(BrowserSession):
    prefix = "approvals-proc"
    width = 390
    height = 844


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Callable[..., Phone]]:
    yield from sessions(Phone, browser, live_server)


def test_a_nurse_reads_a_document_on_her_phone(people: SimpleNamespace, phone: Callable[..., Phone]) -> None:
    install(people, "document")
    request = submit(
        people.equipment,
        "document",
        {
            "title": "关于大型医用设备年度检测的通知",
            "doc_number": "设备〔2026〕3号",
            "body": "请各科室配合完成年度检测。",
            "sign_off_by": "vice_dean",
            "recipients": [{"department": "CARD"}],
        },
    )
    decide_all(request)

    nurse = phone()
    nurse.sign_in("nurse", TEST_PASSWORD)
    nurse.go("/approvals/documents/")
    nurse.page.click(f"#document-list a[href='/approvals/documents/{request.pk}/']")
    nurse.wait_text("#document", "请各科室配合完成年度检测。")
    nurse.shot("document-unread")
    nurse.page.click("#mark-read")
    nurse.wait_text("#my-receipt", "王护士")
    nurse.shot("document-read")

    receipt = DocumentReceipt.objects.get(request=request)
    assert receipt.read_by == people.nurse

    dean = phone()
    dean.sign_in("dean", TEST_PASSWORD)
    dean.go("/approvals/stats/")
    dean.wait_text("#stats-cycle", "公文流转")
    assert dean.page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    dean.shot("stats")
