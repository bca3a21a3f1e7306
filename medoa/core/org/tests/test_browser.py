"""Staff import through Debian's chromium: sign in as HR, upload a workbook with a bad row, read
the report, fix the row, import, and find the new people in the staff list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from openpyxl import Workbook

from medoa.core.org.imports import COLUMN_CODES
from medoa.core.org.models import Staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _workbook(path: Path, national_id_of_second: str) -> Path:
    rows = [
        {
            "employee_no": "B101",
            "name": "韩梅梅",
            "gender": "女",
            "department_code": "CARD-W1",
            "title": "护士",
            "nursing_level": "N1",
            "username": "hanmeimei",
            "initial_password": "Welcome-2026-hm",
        },
        {
            "employee_no": "B102",
            "name": "李雷",
            "gender": "男",
            "department_code": "CARD",
            "title": "主治医师",
            "national_id": national_id_of_second,
            "username": "lilei",
            "initial_password": "Welcome-2026-ll",
        },
    ]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(COLUMN_CODES))
    for row in rows:
        sheet.append([row.get(code, "") for code in COLUMN_CODES])
    workbook.save(path)
    return path


def _sign_in(page: Any, live_server: Any, username: str, password: str, user: Any) -> None:
    try:
        login_url = reverse("access:login")
    except NoReverseMatch:
        login_url = ""
    if login_url:
        page.goto(f"{live_server.url}{login_url}")
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', password)
        page.click('button[type="submit"]')
        page.wait_for_load_state()
    else:  # before the access app's login page exists: reuse a server-side session
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"]
        page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


def test_hr_imports_staff_after_fixing_a_bad_row(
    page: Any, live_server: Any, person: Any, tree: Any, password: str, tmp_path: Path
) -> None:
    # Given an HR officer signed in through the login page
    hr = person("hr", department=tree.hr_office, username="hr_officer")
    _sign_in(page, live_server, "hr_officer", password, hr.user)
    page.goto(f"{live_server.url}/org/staff/import/")
    assert page.locator("h1").first.inner_text() == "导入人员"

    # When a workbook whose second data row has a wrong national ID is uploaded
    page.set_input_files('input[name="file"]', str(_workbook(tmp_path / "人员.xlsx", "110105194912310021")))
    page.click('#upload-form button[type="submit"]')
    page.wait_for_load_state()

    # Then the report names row 3, the column and the reason, and nobody was imported
    report = page.locator("#import-problems")
    assert "发现 1 个问题：未导入任何数据。" in report.inner_text()
    cells = report.locator("tr.import-problem td").all_inner_texts()
    assert cells == ["3", "national_id", "身份证号校验位不符，请核对号码。"]
    assert Staff.objects.filter(employee_no__in=["B101", "B102"]).count() == 0

    # When the row is fixed and the file uploaded again
    page.set_input_files(
        'input[name="file"]', str(_workbook(tmp_path / "人员-修正.xlsx", "11010519491231002X"))
    )
    page.click('#upload-form button[type="submit"]')
    page.wait_for_load_state()

    # Then both are imported and appear in the staff list
    assert "已导入 2 名人员。" in page.locator("#import-done").inner_text()
    page.click("text=前往人员列表")
    page.wait_for_load_state()
    table = page.locator("#staff-table").inner_text()
    assert "韩梅梅" in table and "李雷" in table
    assert Staff.objects.get(employee_no="B102").national_id == "11010519491231002X"
