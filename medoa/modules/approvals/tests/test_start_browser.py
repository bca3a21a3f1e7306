"""A new user starts requests entirely by clicking, through Debian's chromium under the real CSP:
on a desktop a doctor files a reimbursement with three line items, each with its invoice uploaded
through the form engine (a forgotten invoice is refused beside its line first); on a phone a
doctor sends a document to three departments picked in the department picker, and a procurement
with two items. Screenshots in test-artifacts/approvals-start-*.png; any console or page error
fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from medoa.core.access.tests.browser import BrowserSession, sessions
from medoa.core.org.tests.factories import TEST_PASSWORD
from medoa.modules.approvals.models import ApprovalRequest

from .proc_support import *  # noqa: F403
from .proc_support import PDF, install

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Desk(BrowserSession):
    prefix = "approvals-start"


class Phone(BrowserSession):
    prefix = "approvals-start-phone"
    width = 390
    height = 844


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Iterator[Callable[..., Desk]]:
    yield from sessions(Desk, browser, live_server)


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Callable[..., Phone]]:
    yield from sessions(Phone, browser, live_server)


def _invoice(tmp_path: Path, n: int) -> str:
    path = tmp_path / f"发票{n}.pdf"
    path.write_bytes(PDF)
    return str(path)


def _choose(row: Any, field: str, label: str) -> None:
    row.locator(f".fjs-form-field-select:has(label:has-text('{field}')) .fjs-input-group").click()
    row.page.locator(".fjs-dropdownlist-item", has_text=label).click()


def _fill(field: Any, text: str) -> None:
    """Type into a form-js input until the value holds: a row that re-renders just after a choice
    replaces its inputs, and text typed into the old one is gone (CI, loaded machine: two rows'
    summaries came back empty and the submit was refused as incomplete)."""
    for _ in range(5):
        field.fill(text)
        field.press("Tab")
        field.page.wait_for_timeout(300)
        if field.input_value() == text:
            return
    assert field.input_value() == text


def _open(s: BrowserSession, type_key: str) -> Any:
    s.go("/approvals/")
    s.page.click(f'a[data-type="{type_key}"]')
    s.page.wait_for_selector("#approvals-start.forms-ready")
    return s.page


def test_a_doctor_files_a_reimbursement_with_three_invoices(
    people: SimpleNamespace, media: Any, desk: Callable[..., Desk], tmp_path: Path
) -> None:
    install(people, "reimbursement")
    s = desk()
    s.sign_in("doctor", TEST_PASSWORD)
    page = _open(s, "reimbursement")
    assert page.locator("#applicant-name").inner_text() == "李医生"
    assert page.locator("#applicant-department").inner_text() == "心血管内科"

    page.locator(".fjs-form-field-textarea textarea").first.fill("参加中国心血管年会")
    # the form's own buttons speak Chinese too (form-js writes "Add new", "Select")
    assert page.locator(".fjs-repeat-render-add").inner_text().strip() == "新增"
    lines = [("差旅费", "高铁往返", "553.50"), ("差旅费", "住宿三晚", "1200"), ("会议费", "会务费", "800")]
    for index, (category, text, amount) in enumerate(lines):
        if index:
            page.click(".fjs-repeat-render-add")
        row = page.locator(".fjs-repeat-row-container").nth(index)
        _choose(row, "费用类别", category)
        _fill(row.locator(".fjs-form-field-textfield input"), text)
        _fill(row.locator(".fjs-form-field-number input"), amount)
        if index < 2:  # the third invoice is forgotten at first
            row.locator(".fjs-form-field-medoa-attachment input[type=file]").set_input_files(
                _invoice(tmp_path, index + 1)
            )
            row.locator(".medoa-file-link", has_text=f"发票{index + 1}.pdf").wait_for()
    s.wait_text("#approvals-start-computed", "2,553.50")
    page.click("#submit-request")
    third = page.locator(".fjs-repeat-row-container").nth(2)
    third.locator(".fjs-form-field-medoa-attachment .fjs-form-field-error").wait_for()
    s.shot("reimbursement-missing-invoice")
    assert ApprovalRequest.objects.count() == 0

    third.locator(".fjs-form-field-medoa-attachment input[type=file]").set_input_files(_invoice(tmp_path, 3))
    third.locator(".medoa-file-link", has_text="发票3.pdf").wait_for()
    s.shot("reimbursement-form")
    page.click("#submit-request")
    page.wait_for_selector("#chain", timeout=40_000)
    s.shot("reimbursement-submitted")

    request = ApprovalRequest.objects.get()
    assert request.type_key == "reimbursement" and request.initiator == people.doctor
    assert [item["amount"] for item in request.data["items"]] == [553.5, 1200, 800]
    assert all(len(item["invoice"]) == 1 for item in request.data["items"])
    data = page.locator("#request-data").inner_text()
    assert "高铁往返" in data and "发票3.pdf" in data
    assert "科室负责人审批" in page.locator("#chain").inner_text()

    # a comment @mentioning the department head, picked from the list as the name is typed
    page.locator("#comment-text").press_sequentially("请张主任审阅 @张")
    page.locator(".approvals-lookup li", has_text="张主任").click()
    assert page.locator("#comment-text").input_value() == "请张主任审阅 @head "
    s.shot("mention")
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector(".approvals-comments strong")
    assert request.comments.get().mentions.get() == people.head


def test_on_a_phone_a_document_to_three_departments_and_a_procurement(
    people: SimpleNamespace, media: Any, phone: Callable[..., Phone]
) -> None:
    install(people, "document", "procurement")
    s = phone()
    s.sign_in("doctor", TEST_PASSWORD)
    page = _open(s, "document")
    page.locator(".fjs-form-field-textfield input").first.fill("关于开展院感自查的通知")
    page.locator(".fjs-form-field-textarea textarea").first.fill("请各科室于本周内完成自查并上报。")
    for index, name in enumerate(("普外科", "财务处", "设备科")):
        if index:
            page.click(".fjs-repeat-render-add")
        row = page.locator(".fjs-repeat-row-container").nth(index)
        row.locator(".fjs-form-field-medoa-department input[type=search]").fill(name[:2])
        row.locator(".medoa-option", has_text=name).click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    s.shot("document-form")
    page.click("#submit-request")
    page.wait_for_selector("#chain", timeout=40_000)
    s.shot("document-submitted")
    document = ApprovalRequest.objects.get(type_key="document")
    assert [r["department"] for r in document.data["recipients"]] == ["SURG", "FIN", "EQP"]
    assert page.locator("#document-read-link").count() == 1

    page = _open(s, "procurement")
    page.locator(".fjs-form-field-textfield input").first.fill("CARD-2026-07")
    page.locator(".fjs-form-field-textarea textarea").first.fill("更换老化的监护仪")
    for index, (name, quantity, price) in enumerate(
        (("多参数监护仪", "2", "38000"), ("血氧探头", "10", "260"))
    ):
        if index:
            page.click(".fjs-repeat-render-add")
        row = page.locator(".fjs-repeat-row-container").nth(index)
        _fill(row.locator(".fjs-form-field-textfield input").first, name)
        _fill(row.locator(".fjs-form-field-number input").nth(0), quantity)
        _fill(row.locator(".fjs-form-field-number input").nth(1), price)
    s.wait_text("#approvals-start-computed", "78,600.00")
    page.click("#submit-request")
    page.wait_for_selector("#chain", timeout=40_000)
    s.shot("procurement-submitted")
    procurement = ApprovalRequest.objects.get(type_key="procurement")
    assert len(procurement.data["items"]) == 2
    assert "采购会签" in page.locator("#chain").inner_text()
