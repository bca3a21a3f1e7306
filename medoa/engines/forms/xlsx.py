"""Form records to and from .xlsx workbooks (openpyxl).

Export: one sheet, a header row, one row per record the viewer may see (filtered and sorted as the
record list): the record's number, time, submitter, department, status, then one column per field
of the form's current version (its label; lists joined with ", ", dynamic lists as JSON).

Import: the first sheet; the header row names the fields (by label or by key; the export's own
record columns are recognised and skipped, so an exported workbook imports again). Each row
becomes the data of one record: numbers, booleans, dates and lists are read from the cells as the
field's type wants them, then the form's validation checks it. Every row error is reported (its
row number, field, code and message); when there is any, nothing is imported. Otherwise every row
becomes a submitted record (source ``import``) in one transaction, audited once.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record

from . import conflicts, selectors, services
from .apps import PERM_SUBMIT
from .choices import RecordSource, RecordStatus
from .errors import FormsInputError, FormsNotFound, FormsPermissionDenied, fmt
from .models import FormDefinition, FormRecord, FormRecordValue, FormVersion
from .references import DatabaseReferences
from .schema import FormSchema
from .validation import validate

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 100_000
# the export's own columns: (key, English header)
RECORD_COLUMNS = (
    ("_id", _("Record number")),
    ("_submitted_at", _("Submitted at")),
    ("_submitter", _("Submitted by")),
    ("_department", _("Submitting department")),
    ("_status", _("Record status")),
)
TRUE_WORDS = {"true", "yes", "y", "1", "是", "对", "√", "✓"}
FALSE_WORDS = {"false", "no", "n", "0", "否", "错", "×", "✗"}
LIST_TYPES = {"checklist", "taglist", "medoa-attachment"}
SEPARATORS = ("，", "；", ";", "、")


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    code: str
    message: Any


@dataclass
class ImportResult:
    records: list[FormRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- columns --------------------------------------------------------------------------------------


def _walk(fields: Iterable[Any]) -> Iterator[Any]:
    for f in fields:
        yield f
        yield from _walk(getattr(f, "children", ()) or ())


def columns(schema: FormSchema) -> list[Any]:
    """The fields that get a column: data-bearing fields, a dynamic list as one (JSON) column."""
    inputs = list(schema.input_fields())
    repeats = [f for f in _walk(schema.fields) if getattr(f, "repeat", False)]
    repeat_keys = {f.key for f in repeats}
    chosen: list[Any] = []
    seen: set[str] = set()
    for f in inputs:
        inside = any(f.key.startswith(r + ".") or f.key.startswith(r + "[") for r in repeat_keys)
        if inside:
            owner = next(r for r in repeats if f.key.startswith(r.key + ".") or f.key.startswith(r.key + "["))
            if owner.key not in seen:
                seen.add(owner.key)
                chosen.append(owner)
            continue
        if f.key not in seen:
            seen.add(f.key)
            chosen.append(f)
    return chosen


def label_of(f: Any) -> str:
    component = f.component if isinstance(f.component, Mapping) else {}
    return str(f.label or component.get("dateLabel") or component.get("timeLabel") or f.key)


def _get(data: Any, path: str) -> Any:
    current = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    current = data
    for part in parts[:-1]:
        current = current.setdefault(part, {})
    current[parts[-1]] = value


# --- export ---------------------------------------------------------------------------------------


def _cell(f: Any, value: Any) -> Any:
    if value is None:
        return None
    if getattr(f, "repeat", False) or isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        if all(not isinstance(v, list | Mapping) for v in value):
            return ", ".join("" if v is None else str(v) for v in value)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return gettext_now("Yes") if value else gettext_now("No")
    if isinstance(value, str) and f.type == "datetime":
        try:
            if len(value) == 10:
                return datetime.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # never a formula in the reader's spreadsheet program
    return value


def record_export_xlsx(
    *,
    viewer: Any,
    key: str,
    filters: Mapping[str, Any] | None = None,
    search: str = "",
    sort: str = "-submitted_at",
) -> bytes:
    """The records of ``key`` the viewer may see (filtered as the list) as an .xlsx workbook."""
    version = selectors.form_version_get(viewer=viewer, key=key)
    schema = services.parsed_schema(version)
    cols = columns(schema)
    qs = selectors.record_queryset(viewer=viewer, key=key, filters=filters, search=search, sort=sort)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=version.definition.key[:31])
    sheet.append([str(label) for _key, label in RECORD_COLUMNS] + [label_of(f) for f in cols])
    statuses = dict(RecordStatus.choices)
    local = timezone.get_current_timezone()
    for record in qs.select_related("submitter", "department")[:MAX_EXPORT_ROWS].iterator(chunk_size=2000):
        selectors.for_viewer(viewer, record)  # without what the viewer may not see
        sheet.append(
            [
                record.pk,
                record.submitted_at.astimezone(local).replace(tzinfo=None),
                record.submitter.name if record.submitter else "",
                record.department.name if record.department else "",
                str(statuses.get(record.status, record.status)),
            ]
            + [_cell(f, _get(record.values, f.key)) for f in cols]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- import ---------------------------------------------------------------------------------------


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return int(value) if isinstance(value, float) and value.is_integer() else value
    text = str(value).strip().replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _list(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [_number(value) if not isinstance(value, float) else value]
    text = str(value)
    if text.strip().startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        return parsed
    for sep in SEPARATORS:
        text = text.replace(sep, ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def _date(f: Any, value: Any) -> Any:
    subtype = (f.component.get("subtype") or "date") if isinstance(f.component, Mapping) else "date"
    if isinstance(value, datetime.datetime):
        if subtype == "date":
            return value.date().isoformat()
        if subtype == "time":
            return value.strftime("%H:%M")
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    return str(value).strip()


def cell_value(f: Any, value: Any) -> Any:
    """A cell's value as the field's type wants it in the data (validation judges it)."""
    if getattr(f, "repeat", False):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    kind = f.type
    if kind == "number":
        return _number(value)
    if kind == "checkbox":
        return _bool(value)
    if kind in LIST_TYPES:
        return _list(value)
    if kind == "datetime":
        return _date(f, value)
    if kind == "medoa-staff":
        return _number(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool) and kind in ("textfield", "textarea"):
        return str(value)
    return value


def _header_map(header: list[Any], cols: list[Any]) -> tuple[dict[int, Any], list[RowError]]:
    by_name: dict[str, Any] = {}
    for f in cols:
        by_name[f.key] = f
        by_name.setdefault(label_of(f).strip(), f)
    record_headers = set()
    for key, label in RECORD_COLUMNS:
        record_headers.update({key, str(label), _in_language(label, "en"), _in_language(label, "zh-hans")})
    mapping: dict[int, Any] = {}
    errors: list[RowError] = []
    used: set[str] = set()
    for index, raw in enumerate(header):
        name = "" if raw is None else str(raw).strip()
        f = by_name.get(name)
        if not name or (f is None and name in record_headers):
            continue
        if f is None:
            errors.append(
                RowError(
                    1,
                    name[:80],
                    "unknown_column",
                    fmt(_("“%(column)s” is not a field of this form."), {"column": name[:80]}),
                )
            )
            continue
        if f.key in used:
            errors.append(
                RowError(
                    1,
                    f.key,
                    "duplicate_column",
                    fmt(_("The field “%(column)s” has two columns."), {"column": name[:80]}),
                )
            )
            continue
        used.add(f.key)
        mapping[index] = f
    if not mapping and not errors:
        errors.append(RowError(1, "", "no_columns", _("The first row must name the form's fields.")))
    return mapping, errors


def _in_language(message: Any, language: str) -> str:
    with override(language):
        return str(message)


def _open_workbook(file: UploadedFile) -> Any:
    limit = int(getattr(settings, "MEDOA_IMPORT_MAX_BYTES", 5 * 1024 * 1024))
    if (file.size or 0) > limit:
        raise FormsInputError(
            fmt(_("The workbook is too large (at most %(max)s KB)."), {"max": limit // 1024}), field="file"
        )
    file.seek(0)
    head = bytes(file.read(4))
    file.seek(0)
    if head != b"PK\x03\x04":
        raise FormsInputError(_("This is not an .xlsx workbook."), field="file")
    try:
        return load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        raise FormsInputError(_("This is not an .xlsx workbook."), field="file") from None


def _read_rows(file: UploadedFile) -> list[tuple[int, list[Any]]]:
    limit = int(getattr(settings, "MEDOA_IMPORT_MAX_ROWS", 5000))
    book = _open_workbook(file)
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise FormsInputError(_("The workbook has no sheet."), field="file")
        rows: list[tuple[int, list[Any]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = list(values)
            if number > 1 and all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                continue
            rows.append((number, cells))
            if len(rows) > limit + 1:
                raise FormsInputError(
                    fmt(_("The workbook has more than %(max)s rows."), {"max": limit}), field="file"
                )
    finally:
        book.close()
    if not rows:
        raise FormsInputError(_("The workbook is empty."), field="file")
    return rows


def record_import_xlsx(*, actor: Any, key: str, file: UploadedFile) -> ImportResult:
    """Import every row as a submitted record of ``key``'s current version, or nothing: the
    result lists every row error when there is any."""
    staff = services.staff_of(actor)
    if staff is None or not staff.is_active:
        raise FormsPermissionDenied(_("Only active staff members can fill in forms."))
    if not has_perm(actor, PERM_SUBMIT):
        raise FormsPermissionDenied(_("You may not fill in forms."))
    definition = FormDefinition.objects.filter(key=key).first() if isinstance(key, str) else None
    if definition is None or definition.latest_version_id is None or not definition.is_active:
        raise FormsNotFound(fmt(_("There is no form “%(key)s”."), {"key": str(key)[:64]}), field="key")
    version = FormVersion.objects.get(pk=definition.latest_version_id)
    schema = services.parsed_schema(version)
    rows = _read_rows(file)
    mapping, errors = _header_map(rows[0][1], columns(schema))
    if errors:
        return ImportResult(errors=errors)
    references = DatabaseReferences(staff=staff)
    cleaned: list[tuple[int, dict[str, Any]]] = []
    for number, cells in rows[1:]:
        data: dict[str, Any] = {}
        for index, f in mapping.items():
            raw = cells[index] if index < len(cells) else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            _set(data, f.key, cell_value(f, raw))
        problem = services.json_problem(data)
        if problem is not None:
            errors.append(RowError(number, "", "invalid", problem))
            continue
        result = validate(schema, data, references=references)
        if result.errors:
            errors.extend(RowError(number, e.field, e.code, e.message) for e in result.errors)
        else:
            cleaned.append((number, dict(result.data)))
    if not cleaned and not errors:
        errors.append(RowError(2, "", "no_rows", _("The workbook has no rows to import.")))
    with transaction.atomic():  # the conflict rules are locked until the records are stored
        # the apps' conflict rules hold for imported records too (against each other as well)
        clashes = conflicts.import_clashes(definition=definition, rows=cleaned, schema=schema)
        errors.extend(RowError(number, e.field, e.code, e.message) for number, e in clashes)
        if errors:
            return ImportResult(errors=sorted(errors, key=lambda e: e.row))
        return ImportResult(records=_store(actor, staff, definition, version, [v for _n, v in cleaned]))


@transaction.atomic
def _store(
    actor: Any, staff: Any, definition: FormDefinition, version: FormVersion, rows: list[dict[str, Any]]
) -> list[FormRecord]:
    now = timezone.now()
    records = FormRecord.objects.bulk_create(
        [
            FormRecord(
                definition=definition,
                version=version,
                submitter=staff,
                department_id=staff.department_id,
                status=RecordStatus.SUBMITTED,
                source=RecordSource.IMPORT,
                values=values,
                submitted_at=now,
                updated_at=now,
            )
            for values in rows
        ],
        batch_size=500,
    )
    if any(r.pk is None for r in records):  # a backend without RETURNING: read the ids back
        records = list(
            FormRecord.objects.filter(
                definition=definition, submitter=staff, submitted_at=now, source=RecordSource.IMPORT
            ).order_by("id")
        )
    values: list[FormRecordValue] = []
    for record in records:
        values.extend(services.report_rows(record, version.reporting, record.values))
    FormRecordValue.objects.bulk_create(values, batch_size=1000)
    audit_record(
        actor=actor,
        action="forms.record.imported",
        target=definition,
        details={"key": definition.key, "version": version.version, "count": len(records)},
    )
    return records
