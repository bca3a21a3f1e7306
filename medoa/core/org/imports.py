"""Bulk import of staff from .xlsx or .csv: reading the file safely and checking every row.

``read_staff_file`` checks size, extension and content (an .xlsx must be a real zip workbook with
``[Content_Types].xml``; a .csv must decode as UTF-8, with or without BOM, or GB18030) and
returns the rows. ``check_staff_rows`` checks every row against the same rules as the staff
services and returns either the problems (row, column, message) or the rows ready for
``services.staff_import`` — which then writes all of them in one transaction.
"""

from __future__ import annotations

import csv
import datetime
import io
import secrets
import string
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from medoa.core.access.models import User
from medoa.core.access.policy import has_perm

from .choices import Gender, RoleScope, Title
from .models import Department, Role
from .services import ADMIN_TRIAD, StaffImportRow, account_values_clean, staff_values_clean
from .validators import normalise_national_id


@dataclass(frozen=True)
class ImportColumn:
    code: str
    label: Any
    required: bool
    help: Any


IMPORT_COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn("employee_no", _("Employee number"), True, _("Unique; letters, digits, - and _.")),
    ImportColumn("name", _("Name"), True, _("At most 64 characters.")),
    ImportColumn("gender", _("Gender"), False, _("M / F / U, or 男 / 女.")),
    ImportColumn("department_code", _("Department code"), True, _("The code of an active department.")),
    ImportColumn("title", _("Title"), True, _("A title code or name, for example attending or 主治医师.")),
    ImportColumn("nursing_level", _("Nursing level"), False, _("N0–N4, nursing titles only.")),
    ImportColumn("position", _("Position"), False, _("Free text, at most 64 characters.")),
    ImportColumn("office_phone", _("Office phone"), False, _("Digits, spaces, +, - and brackets.")),
    ImportColumn("email", _("Email"), False, _("A valid email address.")),
    ImportColumn(
        "phone", _("Mobile phone"), False, _("11 digits starting with 13–19; format the column as text.")
    ),
    ImportColumn(
        "national_id",
        _("National ID"),
        False,
        _("18 characters with a valid check digit (X allowed); format the column as text."),
    ),
    ImportColumn("hire_date", _("Hire date"), False, _("YYYY-MM-DD, or a date cell.")),
    ImportColumn(
        "roles",
        _("Roles"),
        False,
        _("Comma-separated role codes, for example doctor,dept_head; needs the right to assign roles."),
    ),
    ImportColumn("username", _("Username"), True, _("The login name; must not be taken.")),
    ImportColumn(
        "initial_password",
        _("Initial password"),
        False,
        _("Optional; when empty a password is generated and shown once after the import."),
    ),
)
COLUMN_CODES = tuple(c.code for c in IMPORT_COLUMNS)
REQUIRED_COLUMNS = tuple(c.code for c in IMPORT_COLUMNS if c.required)
# Headers may also be the Chinese names of the columns.
HEADER_ALIASES: dict[str, str] = {
    "工号": "employee_no",
    "姓名": "name",
    "性别": "gender",
    "科室编码": "department_code",
    "科室代码": "department_code",
    "职称": "title",
    "护理层级": "nursing_level",
    "职务": "position",
    "岗位": "position",
    "办公电话": "office_phone",
    "邮箱": "email",
    "电子邮箱": "email",
    "手机": "phone",
    "手机号": "phone",
    "身份证号": "national_id",
    "身份证号码": "national_id",
    "入职日期": "hire_date",
    "角色": "roles",
    "用户名": "username",
    "登录名": "username",
    "初始密码": "initial_password",
    "password": "initial_password",
}
GENDER_ALIASES = {
    "m": Gender.MALE,
    "male": Gender.MALE,
    "男": Gender.MALE,
    "f": Gender.FEMALE,
    "female": Gender.FEMALE,
    "女": Gender.FEMALE,
    "u": Gender.UNKNOWN,
    "unknown": Gender.UNKNOWN,
    "未知": Gender.UNKNOWN,
    "": Gender.UNKNOWN,
}
# A workbook whose parts unpack to more than this is refused (zip bomb).
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_CELL_CHARS = 500


class ImportFileError(Exception):
    """The file as a whole cannot be read: wrong type, too big, not what it claims to be."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with the file: the row number as the spreadsheet shows it (the header
    is row 1), the column code, and the message."""

    row: int
    column: str
    message: Any

    def as_dict(self, *, language: str | None = None) -> dict[str, Any]:
        if language:
            with override(language):
                return {"row": self.row, "column": self.column, "message": str(self.message)}
        return {"row": self.row, "column": self.column, "message": str(self.message)}


@dataclass
class StaffFile:
    """The rows of a staff file: (row number, {column code: raw cell text or date})."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


# --- reading ----------------------------------------------------------------------------------------


def _cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date() if value.time() == datetime.time(0) else value
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value).strip()


def _header(cells: Sequence[Any]) -> tuple[list[str | None], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    columns: list[str | None] = []
    seen: set[str] = set()
    for raw in cells:
        text = str(raw).strip() if raw is not None else ""
        if not text:
            columns.append(None)
            continue
        code = HEADER_ALIASES.get(text, HEADER_ALIASES.get(text.lower(), text.lower()))
        if code not in COLUMN_CODES:
            problems.append(
                ImportProblem(
                    1,
                    text[:50],
                    _("Unknown column '%(column)s'.") % {"column": text[:50]},
                )
            )
            columns.append(None)
            continue
        if code in seen:
            problems.append(ImportProblem(1, code, _("The column appears twice.")))
            columns.append(None)
            continue
        seen.add(code)
        columns.append(code)
    for code in REQUIRED_COLUMNS:
        if code not in seen:
            problems.append(ImportProblem(1, code, _("The required column is missing.")))
    return columns, problems


def _collect(records: Any) -> StaffFile:
    """Turn (row number, cells) records into a StaffFile, header first, empty rows skipped."""
    result = StaffFile()
    columns: list[str | None] | None = None
    max_rows = settings.MEDOA_IMPORT_MAX_ROWS
    for number, cells in records:
        if columns is None:
            columns, result.problems = _header(cells)
            if not any(columns):
                raise ImportFileError(_("The first row must name the columns (see the template)."))
            continue
        values = [_cell_text(c) for c in cells]
        if not any(v != "" for v in values):
            continue
        if len(result.rows) >= max_rows:
            raise ImportFileError(
                _("The file has more than %(max)d rows: split it into smaller files.") % {"max": max_rows}
            )
        row: dict[str, Any] = {}
        for i, code in enumerate(columns):
            if code is not None:
                row[code] = values[i] if i < len(values) else ""
        result.rows.append((number, row))
    if columns is None:
        raise ImportFileError(_("The file is empty."))
    if not result.rows and not result.problems:
        raise ImportFileError(_("The file has no data rows below the header."))
    return result


def _read_xlsx(data: bytes) -> StaffFile:
    not_xlsx = ImportFileError(_("The file is not a valid .xlsx workbook."))
    if not data.startswith(b"PK\x03\x04"):
        raise not_xlsx
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise not_xlsx from None
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise not_xlsx
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(_("The workbook unpacks to too much data."))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors for malformed parts
        raise not_xlsx from None
    try:
        sheet = workbook.worksheets[0]
        return _collect(enumerate(sheet.iter_rows(values_only=True), start=1))
    except ImportFileError:
        raise
    except Exception:
        raise not_xlsx from None
    finally:
        workbook.close()


def _read_csv(data: bytes) -> StaffFile:
    if data.startswith(b"PK\x03\x04") or b"\x00" in data:
        raise ImportFileError(_("The file is not a text .csv file."))
    text: str | None = None
    if data.startswith(b"\xef\xbb\xbf"):
        candidates: tuple[tuple[bytes, str], ...] = ((data[3:], "utf-8"),)
    else:
        candidates = ((data, "utf-8"), (data, "gb18030"))
    for body, encoding in candidates:
        try:
            text = body.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise ImportFileError(_("The .csv file must be encoded as UTF-8 or GB18030."))
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        records = [(number, cells) for number, cells in enumerate(reader, start=1)]
    except csv.Error:
        raise ImportFileError(_("The .csv file is malformed (for example an unclosed quote).")) from None
    return _collect(records)


def read_staff_file(upload: UploadedFile) -> StaffFile:
    """Read an uploaded staff file; raise ``ImportFileError`` when it cannot be used at all."""
    name = (upload.name or "").lower()
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if extension not in {"xlsx", "csv"}:
        raise ImportFileError(_("Only .xlsx and .csv files can be imported."))
    limit = settings.MEDOA_IMPORT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ImportFileError(_("The file is larger than %(size)d KB.") % {"size": limit // 1024})
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ImportFileError(_("The file is larger than %(size)d KB.") % {"size": limit // 1024})
    if not data:
        raise ImportFileError(_("The file is empty."))
    return _read_xlsx(data) if extension == "xlsx" else _read_csv(data)


# --- checking ---------------------------------------------------------------------------------------


def _title_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for value, label in Title.choices:
        lookup[value.lower()] = value
        for language in ("zh-hans", "en"):
            with override(language):
                lookup[str(label).strip().lower()] = value
    return lookup


def _parse_date(value: Any) -> datetime.date | None:
    if value in ("", None):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValidationError(_("Enter the hire date as YYYY-MM-DD."))


def generate_password() -> str:
    """A random initial password with upper and lower case letters, digits and a symbol."""
    alphabet = string.ascii_letters + string.digits
    while True:
        chars = [
            secrets.choice(string.ascii_uppercase),
            secrets.choice(string.ascii_lowercase),
            secrets.choice(string.digits),
            secrets.choice("@#%+=!"),
            *(secrets.choice(alphabet) for _ in range(10)),
        ]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        try:
            validate_password(password)
        except ValidationError:
            continue
        return password


FIELD_TO_COLUMN = {"department": "department_code"}


def check_staff_rows(
    *, actor: User, staff_file: StaffFile
) -> tuple[list[StaffImportRow], list[ImportProblem]]:
    """Check every row; return (rows ready to import, problems). Import only when no problems.

    Each row is checked with the staff services' own rules (formats, uniqueness against the
    database) plus: the department exists, is active and lies within the importer's
    ``org.staff.manage`` scope; role codes exist and the importer may assign roles; and no two
    rows of the file share an employee number, username or national ID.
    """
    if staff_file.problems:
        return [], sorted(staff_file.problems, key=_problem_order)
    problems: list[ImportProblem] = []
    ready: list[StaffImportRow] = []
    titles = _title_lookup()
    departments = {d.code.lower(): d for d in Department.objects.all()}
    roles = {r.code: r for r in Role.objects.all()}
    may_assign = has_perm(actor, "org.role.assign")
    first_seen: dict[tuple[str, str], int] = {}

    for number, cells in staff_file.rows:
        row_problems: list[ImportProblem] = []

        def problem(
            column: str, message: Any, number: int = number, bucket: list[ImportProblem] = row_problems
        ) -> None:
            bucket.append(ImportProblem(number, column, message))

        for column, value in cells.items():
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                problem(column, _("The cell has more than %(max)d characters.") % {"max": MAX_CELL_CHARS})
        if row_problems:
            problems.extend(row_problems)
            continue

        values: dict[str, Any] = {}
        for code in ("employee_no", "name", "position", "office_phone", "email", "phone", "national_id"):
            values[code] = str(cells.get(code, "") or "")
        gender_text = str(cells.get("gender", "") or "").strip().lower()
        if gender_text in GENDER_ALIASES:
            values["gender"] = GENDER_ALIASES[gender_text]
        else:
            problem("gender", _("The gender is M, F or U (男 / 女)."))
        title_text = str(cells.get("title", "") or "").strip().lower()
        if not title_text:
            problem("title", _("The title is required."))
        elif title_text in titles:
            values["title"] = titles[title_text]
        else:
            problem("title", _("Unknown title '%(title)s'.") % {"title": str(cells.get("title"))[:50]})
        values["nursing_level"] = str(cells.get("nursing_level", "") or "").strip().upper()
        try:
            values["hire_date"] = _parse_date(cells.get("hire_date", ""))
        except ValidationError as exc:
            problem("hire_date", exc.messages[0])
        dept_code = str(cells.get("department_code", "") or "").strip()
        dept = departments.get(dept_code.lower())
        if not dept_code:
            problem("department_code", _("The department code is required."))
        elif dept is None:
            problem("department_code", _("No department has the code '%(code)s'.") % {"code": dept_code[:50]})
        elif not has_perm(actor, "org.staff.manage", department=dept):
            problem("department_code", _("You may not manage staff of this department."))
        else:
            values["department"] = dept

        try:
            cleaned = staff_values_clean(values)
        except ValidationError as exc:
            for field_name, errors in exc.error_dict.items():
                for message in ValidationError(errors).messages:
                    problem(FIELD_TO_COLUMN.get(field_name, field_name), message)
            cleaned = {}
        password = str(cells.get("initial_password", "") or "")
        generated = not password
        if generated:
            password = generate_password()
        try:
            username, password = account_values_clean(
                username=str(cells.get("username", "") or ""), password=password
            )
        except ValidationError as exc:
            for field_name, errors in exc.error_dict.items():
                for message in ValidationError(errors).messages:
                    problem(field_name, message)
            username = ""

        row_roles: list[Role] = []
        role_text = str(cells.get("roles", "") or "")
        codes = [c.strip() for c in role_text.replace("，", ",").split(",") if c.strip()]
        if codes and not may_assign:
            problem(
                "roles",
                _(
                    "You may not assign roles: leave the column empty (the security administrator "
                    "assigns roles)."
                ),
            )
        else:
            for code in codes:
                role = roles.get(code)
                if role is None:
                    problem("roles", _("Unknown role code '%(code)s'.") % {"code": code[:40]})
                elif role not in row_roles:
                    row_roles.append(role)
            if len({r.code for r in row_roles} & ADMIN_TRIAD) > 1:
                problem(
                    "roles",
                    _("System, security and audit administration are separate duties: give only one."),
                )
            if any(r.scope == RoleScope.HOSPITAL for r in row_roles) and not departments_root_exists(
                departments
            ):
                problem("roles", _("There is no hospital root department yet."))

        for key, value, same_as in (
            (
                "employee_no",
                str(cells.get("employee_no", "") or "").strip().lower(),
                _("Row %(row)d has the same employee number."),
            ),
            (
                "username",
                str(cells.get("username", "") or "").strip().lower(),
                _("Row %(row)d has the same username."),
            ),
            (
                "national_id",
                _normalised_or_empty(cells.get("national_id", "")),
                _("Row %(row)d has the same national ID."),
            ),
        ):
            if not value:
                continue
            first = first_seen.setdefault((key, value), number)
            if first != number:
                problem(key, same_as % {"row": first})

        if row_problems:
            problems.extend(row_problems)
            continue
        ready.append(
            StaffImportRow(
                row=number,
                values=cleaned,
                username=username,
                password=password,
                password_generated=generated,
                roles=tuple(row_roles),
            )
        )
    problems.sort(key=_problem_order)
    return ready, problems


def _problem_order(problem: ImportProblem) -> tuple[int, int]:
    """By row, then in the order of the template's columns (unknown columns last)."""
    column = COLUMN_CODES.index(problem.column) if problem.column in COLUMN_CODES else len(COLUMN_CODES)
    return problem.row, column


def departments_root_exists(departments: dict[str, Department]) -> bool:
    return any(d.parent_id is None for d in departments.values())


def _normalised_or_empty(value: Any) -> str:
    try:
        return normalise_national_id(str(value or ""))
    except ValidationError:
        return ""


# --- templates --------------------------------------------------------------------------------------


def template_xlsx() -> bytes:
    """The import template: the header row, text-formatted columns, and a sheet documenting them."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "staff"
    sheet.append(list(COLUMN_CODES))
    for index, column in enumerate(IMPORT_COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(index)].width = 18
        for row in range(2, 502):
            sheet.cell(row=row, column=index).number_format = (
                "@" if column.code != "hire_date" else "yyyy-mm-dd"
            )
    docs = workbook.create_sheet("columns")
    docs.append([str(_("Column")), str(_("Meaning")), str(_("Required")), str(_("Format"))])
    for column in IMPORT_COLUMNS:
        docs.append([column.code, str(column.label), "✓" if column.required else "", str(column.help)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def template_csv() -> bytes:
    """The import template as UTF-8 CSV with a BOM (so that Excel opens it as UTF-8)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(COLUMN_CODES)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
