"""Bulk import of staff: reading .xlsx/.csv safely, the row-by-row report, all-or-nothing writes."""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import override
from openpyxl import Workbook

from medoa.core.access.models import User
from medoa.core.audit.models import AuditEntry
from medoa.core.org import imports
from medoa.core.org.imports import COLUMN_CODES, ImportFileError, check_staff_rows, read_staff_file
from medoa.core.org.models import RoleAssignment, Staff

HEADER = list(COLUMN_CODES)
NATIONAL_ID = "11010519491231002X"
OTHER_ID = "110101199003076579"


def _row(**values: Any) -> list[Any]:
    base: dict[str, Any] = {
        "employee_no": "I001",
        "name": "陈静",
        "gender": "F",
        "department_code": "CARD-W1",
        "title": "nurse",
        "nursing_level": "N1",
        "position": "",
        "office_phone": "8123",
        "email": "chenjing@example.org",
        "phone": "13800138001",
        "national_id": NATIONAL_ID,
        "hire_date": "2023-09-01",
        "roles": "",
        "username": "chenjing",
        "initial_password": "Welcome-2026-a",
    }
    base.update(values)
    return [base[c] for c in HEADER]


def _xlsx(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list[Any]], *, encoding: str = "utf-8", bom: bool = False) -> bytes:
    lines = [",".join(HEADER)] + [",".join(str(v) for v in row) for row in rows]
    data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture
def hr(person: Any, tree: Any) -> Any:
    return person("hr", department=tree.hr_office)


@pytest.fixture
def english() -> Iterator[None]:
    with override("en"):
        yield


def _post(client: Any, name: str, content: bytes) -> Any:
    return client.post(reverse("org:staff_import"), {"file": _upload(name, content)})


# --- whole files that import ------------------------------------------------------------------------


def test_valid_xlsx_import_creates_everyone(tree: Any, hr: Any, login: Any) -> None:
    # given a workbook with two good rows, the second without a password
    content = _xlsx(
        [
            _row(),
            _row(
                employee_no="I002",
                name="刘洋",
                gender="男",
                title="主治医师",
                nursing_level="",
                department_code="card",
                phone=13900139002,
                national_id=OTHER_ID,
                hire_date=datetime.datetime(2021, 3, 15),
                username="liuyang",
                initial_password="",
            ),
        ]
    )
    # when HR uploads it
    response = _post(login(hr), "员工.xlsx", content)
    # then both exist, and the generated password is shown once and works
    assert response.status_code == 200
    created = response.context["created"]
    assert [c.staff.employee_no for c in created] == ["I001", "I002"]
    assert created[0].generated_password is None
    generated = created[1].generated_password
    assert generated and len(generated) == 14
    liu = Staff.objects.select_related("user", "department").get(employee_no="I002")
    assert (liu.gender, liu.title, liu.department.code) == ("M", "attending", "CARD")
    assert (liu.phone, liu.hire_date) == ("13900139002", datetime.date(2021, 3, 15))
    assert liu.user.check_password(generated)
    assert liu.user.must_change_password is True
    assert generated in response.content.decode()
    entry = AuditEntry.objects.get(action="org.staff.imported")
    assert entry.details == {"count": 2, "employee_nos": ["I001", "I002"]}


def test_valid_csv_import_with_bom(tree: Any, hr: Any, login: Any) -> None:
    response = _post(login(hr), "staff.CSV", _csv([_row()], bom=True))
    assert response.status_code == 200
    assert Staff.objects.get(employee_no="I001").name == "陈静"


def test_gb18030_csv_import(tree: Any, hr: Any, login: Any) -> None:
    content = _csv([_row(name="欧阳娜娜", position="护理组长")], encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    response = _post(login(hr), "staff.csv", content)
    assert response.status_code == 200
    staff = Staff.objects.get(employee_no="I001")
    assert (staff.name, staff.position) == ("欧阳娜娜", "护理组长")


def test_chinese_headers_are_accepted(tree: Any, hr: Any) -> None:
    header = ["工号", "姓名", "性别", "科室编码", "职称", "用户名", "初始密码"]
    content = _xlsx([["Z1", "钱多", "女", "CARD-W1", "护士", "qianduo", "Welcome-2026-b"]], header=header)
    staff_file = read_staff_file(_upload("s.xlsx", content))
    rows, problems = check_staff_rows(actor=hr.user, staff_file=staff_file)
    assert problems == []
    assert rows[0].values["title"] == "nurse"
    assert rows[0].values["gender"] == "F"


def test_roles_column_needs_the_right_to_assign_roles(tree: Any, person: Any, hr: Any, english: Any) -> None:
    content = _xlsx([_row(roles="nurse,quality_office")])
    _, problems = check_staff_rows(actor=hr.user, staff_file=read_staff_file(_upload("s.xlsx", content)))
    assert [p.as_dict() for p in problems] == [
        {
            "row": 2,
            "column": "roles",
            "message": "You may not assign roles: leave the column empty (the security administrator "
            "assigns roles).",
        }
    ]

    both = person("hr", "sec_admin", department=tree.hr_office)
    rows, problems = check_staff_rows(actor=both.user, staff_file=read_staff_file(_upload("s.xlsx", content)))
    assert problems == []
    from medoa.core.org.services import staff_import

    [imported] = staff_import(actor=both.user, rows=rows)
    held = {
        (a.role.code, a.department.code)
        for a in RoleAssignment.objects.filter(staff=imported.staff).select_related("role", "department")
    }
    assert held == {("nurse", "CARD-W1"), ("quality_office", "H")}


# --- the report -------------------------------------------------------------------------------------


def _bad_workbook() -> bytes:
    return _xlsx(
        [
            _row(),  # row 2: fine
            _row(employee_no="I002", username="u2", national_id="110105194912310021", department_code="NOPE"),
            _row(username="u3", phone="12345", national_id=""),  # row 4: same employee number as row 2
            [],  # row 5: empty, skipped
            _row(
                employee_no="I004",
                username="chenjing",
                national_id="",
                title="wizard",
                hire_date="2023-13-01",
            ),
        ]
    )


def test_invalid_rows_report_row_column_and_message(tree: Any, hr: Any, english: Any) -> None:
    staff_file = read_staff_file(_upload("s.xlsx", _bad_workbook()))
    rows, problems = check_staff_rows(actor=hr.user, staff_file=staff_file)
    assert [p.as_dict() for p in problems] == [
        {"row": 3, "column": "department_code", "message": "No department has the code 'NOPE'."},
        {
            "row": 3,
            "column": "national_id",
            "message": "The national ID's check digit does not match: please check the number.",
        },
        {"row": 4, "column": "employee_no", "message": "Row 2 has the same employee number."},
        {
            "row": 4,
            "column": "phone",
            "message": "A mobile phone number has 11 digits and starts with 13–19.",
        },
        {"row": 6, "column": "title", "message": "Unknown title 'wizard'."},
        {"row": 6, "column": "hire_date", "message": "Enter the hire date as YYYY-MM-DD."},
        {"row": 6, "column": "username", "message": "Row 2 has the same username."},
    ]
    assert [r.row for r in rows] == [2]


def test_invalid_rows_import_nothing_and_show_the_report(tree: Any, hr: Any, login: Any) -> None:
    staff_before, users_before = Staff.objects.count(), User.objects.count()
    response = _post(login(hr), "staff.xlsx", _bad_workbook())
    assert response.status_code == 400
    assert [(p.row, p.column) for p in response.context["problems"]][:2] == [
        (3, "department_code"),
        (3, "national_id"),
    ]
    content = response.content.decode()
    assert "发现 7 个问题：未导入任何数据。" in content
    assert "没有编码为“NOPE”的科室。" in content
    assert (Staff.objects.count(), User.objects.count()) == (staff_before, users_before)
    assert not AuditEntry.objects.filter(action__startswith="org.staff.").exists()


def test_rows_that_clash_with_the_database(tree: Any, hr: Any, person: Any, english: Any) -> None:
    person(department=tree.cardio, employee_no="I001", username="chenjing")
    staff_file = read_staff_file(_upload("s.csv", _csv([_row()])))
    _, problems = check_staff_rows(actor=hr.user, staff_file=staff_file)
    assert [(p.row, p.column, str(p.message)) for p in problems] == [
        (2, "employee_no", "Another staff member already has this employee number."),
        (2, "username", "This username is already taken."),
    ]


def test_department_outside_the_importers_scope(tree: Any, person: Any, english: Any) -> None:
    from medoa.core.access.models import RoleGrant
    from medoa.core.org.models import Role

    RoleGrant.objects.update_or_create(
        role=Role.objects.get(code="head_nurse"),
        permission="org.staff.manage",
        defaults={"scope": "department_tree"},
    )
    hn = person("head_nurse", department=tree.surgery)
    staff_file = read_staff_file(_upload("s.csv", _csv([_row()])))
    _, problems = check_staff_rows(actor=hn.user, staff_file=staff_file)
    assert [(p.row, p.column, str(p.message)) for p in problems] == [
        (2, "department_code", "You may not manage staff of this department.")
    ]


def test_header_problems(tree: Any, hr: Any, english: Any) -> None:
    header = ["employee_no", "name", "name", "colour", "title", "username"]
    staff_file = read_staff_file(
        _upload("s.xlsx", _xlsx([["A", "B", "C", "red", "nurse", "u"]], header=header))
    )
    _, problems = check_staff_rows(actor=hr.user, staff_file=staff_file)
    assert [p.as_dict() for p in problems] == [
        {"row": 1, "column": "name", "message": "The column appears twice."},
        {"row": 1, "column": "department_code", "message": "The required column is missing."},
        {"row": 1, "column": "colour", "message": "Unknown column 'colour'."},
    ]


# --- files refused as a whole -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["staff.xls", "staff.txt", "staff", "staff.xlsx.exe"])
def test_bad_extension(tree: Any, hr: Any, login: Any, name: str) -> None:
    response = _post(login(hr), name, _csv([_row()]))
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["只能导入 .xlsx 和 .csv 文件。"]
    assert not Staff.objects.filter(employee_no="I001").exists()


def _zip_without_content_types() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [_csv([_row()]), _zip_without_content_types(), b"PK\x03\x04 not really a zip", b"\x00\x01binary"],
    ids=["csv-renamed", "zip-without-content-types", "broken-zip", "binary"],
)
def test_fake_xlsx(tree: Any, hr: Any, login: Any, content: bytes) -> None:
    response = _post(login(hr), "staff.xlsx", content)
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["该文件不是有效的 .xlsx 工作簿。"]


def test_xlsx_renamed_to_csv_and_undecodable_csv(tree: Any, hr: Any, english: Any) -> None:
    with pytest.raises(ImportFileError) as renamed:
        read_staff_file(_upload("staff.csv", _xlsx([_row()])))
    with pytest.raises(ImportFileError) as undecodable:
        read_staff_file(_upload("staff.csv", b"employee_no\r\n\xff\xfe\xff\r\n"))
    assert str(renamed.value.message) == "The file is not a text .csv file."
    assert str(undecodable.value.message) == "The .csv file must be encoded as UTF-8 or GB18030."


def test_size_and_row_limits(tree: Any, hr: Any, settings: Any, english: Any) -> None:
    settings.MEDOA_IMPORT_MAX_BYTES = 100
    with pytest.raises(ImportFileError) as too_big:
        read_staff_file(_upload("staff.csv", _csv([_row()])))
    assert str(too_big.value.message) == "The file is larger than 0 KB."
    settings.MEDOA_IMPORT_MAX_BYTES = 1024 * 1024
    settings.MEDOA_IMPORT_MAX_ROWS = 2
    with pytest.raises(ImportFileError) as too_many:
        read_staff_file(_upload("staff.csv", _csv([_row(), _row(), _row()])))
    assert str(too_many.value.message) == "The file has more than 2 rows: split it into smaller files."


def test_zip_bomb_is_refused(tree: Any, hr: Any, monkeypatch: Any, english: Any) -> None:
    monkeypatch.setattr(imports, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(ImportFileError) as exc:
        read_staff_file(_upload("staff.xlsx", _xlsx([_row()] * 20)))
    assert str(exc.value.message) == "The workbook unpacks to too much data."


def test_empty_files(tree: Any, hr: Any, english: Any) -> None:
    with pytest.raises(ImportFileError) as empty:
        read_staff_file(_upload("staff.csv", b""))
    with pytest.raises(ImportFileError) as header_only:
        read_staff_file(_upload("staff.csv", _csv([])))
    assert str(empty.value.message) == "The file is empty."
    assert str(header_only.value.message) == "The file has no data rows below the header."


def test_import_page_documents_the_columns(tree: Any, hr: Any, login: Any) -> None:
    response = login(hr).get(reverse("org:staff_import"))
    content = response.content.decode()
    assert response.status_code == 200
    for code in COLUMN_CODES:
        assert f"<code>{code}</code>" in content
