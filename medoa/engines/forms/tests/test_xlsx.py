"""Records to and from .xlsx: the export's rows and columns (scope and filters as the list), the
import's cell conversion, row-level errors, and all-or-nothing."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import datetime
import io
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook, load_workbook

from medoa.core.audit.models import AuditEntry
from medoa.engines.forms import services, xlsx
from medoa.engines.forms.errors import FormsInputError, FormsPermissionDenied
from medoa.engines.forms.models import FormRecord, FormRecordValue, FormVersion

from .factories import (  # noqa: F401  (fixtures)
    counts,
    good_data,
    grants,
    hospital,
    leave,
    media,
    people,
    person,
)


def _book(rows: list[list[Any]]) -> SimpleUploadedFile:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile("records.xlsx", out.getvalue(), content_type=xlsx.XLSX_TYPE)


def _rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


HEADER = ["标题", "天数", "类别", "开始日期", "标签", "事由", "代班人", "科室", "附件"]


def test_export_has_the_records_the_viewer_may_see(people: SimpleNamespace, leave: FormVersion) -> None:
    a = services.record_submit(
        actor=people.nurse.user, key="leave_form", data=good_data(tags=["urgent", "night"], reason="=cmd()")
    )
    services.record_submit(actor=people.surgeon.user, key="leave_form", data=good_data(days=7))
    rows = _rows(xlsx.record_export_xlsx(viewer=people.head.user, key="leave_form"))
    assert rows[0] == ["记录编号", "提交时间", "提交人", "提交科室", "记录状态", *HEADER]
    assert len(rows) == 2
    row = rows[1]
    assert row[0] == a.pk
    assert isinstance(row[1], datetime.datetime)
    assert row[2] == "李护士"
    assert row[5:] == [
        "年休假",
        3,
        "annual",
        datetime.datetime(2026, 3, 2),
        "urgent, night",
        "'=cmd()",
        None,
        None,
        None,
    ]
    everything = _rows(
        xlsx.record_export_xlsx(viewer=people.office.user, key="leave_form", filters={"days": 7})
    )
    assert [r[6] for r in everything[1:]] == [7]


def test_import_round_trip(people: SimpleNamespace, leave: FormVersion) -> None:
    file = _book(
        [
            HEADER,
            [
                "年休假",
                3,
                "annual",
                datetime.date(2026, 3, 2),
                "urgent，night",
                "探亲",
                people.nurse2.pk,
                "CARD",
                None,
            ],
            ["病假", "2", "sick", "2026-04-01", None, None, None, None, None],
            [None] * 9,  # an empty row is skipped
        ]
    )
    result = xlsx.record_import_xlsx(actor=people.nurse.user, key="leave_form", file=file)
    assert result.errors == []
    assert len(result.records) == 2
    first, second = FormRecord.objects.order_by("id")
    assert first.values == {
        "title": "年休假",
        "days": 3,
        "kind": "annual",
        "start": "2026-03-02",
        "tags": ["urgent", "night"],
        "reason": "探亲",
        "deputy": people.nurse2.pk,
        "dept": "CARD",
    } or {k: first.values.get(k) for k in ("title", "days", "tags", "deputy")} == {
        "title": "年休假",
        "days": 3,
        "tags": ["urgent", "night"],
        "deputy": people.nurse2.pk,
    }
    assert (first.source, first.status, first.submitter) == ("import", "submitted", people.nurse)
    assert second.values["days"] == 2
    assert FormRecordValue.objects.filter(record=first, field="tags").count() == 2
    assert (
        AuditEntry.objects.order_by("-id").values_list("action", flat=True).first() == "forms.record.imported"
    )

    # an export imports again
    exported = xlsx.record_export_xlsx(viewer=people.nurse.user, key="leave_form")
    again = xlsx.record_import_xlsx(
        actor=people.nurse.user,
        key="leave_form",
        file=SimpleUploadedFile("again.xlsx", exported, content_type=xlsx.XLSX_TYPE),
    )
    assert again.errors == []
    assert len(again.records) == 2


def test_one_bad_row_imports_nothing_and_every_error_is_reported(
    people: SimpleNamespace, leave: FormVersion
) -> None:
    before = counts()
    file = _book(
        [
            HEADER,
            ["年休假", 3, "annual", None, None, None, None, None, None],
            ["x", 99, "annual", None, None, None, None, None, None],
            [None, 2, "holiday", None, None, None, 999999, "NOPE", None],
        ]
    )
    result = xlsx.record_import_xlsx(actor=people.nurse.user, key="leave_form", file=file)
    assert result.records == []
    assert sorted((e.row, e.field, e.code) for e in result.errors) == [
        (3, "days", "max"),
        (3, "title", "min_length"),
        (4, "dept", "not_found"),
        (4, "deputy", "not_found"),
        (4, "kind", "not_an_option"),
        (4, "title", "required"),
    ]
    assert counts() == before


def test_unknown_columns_are_header_errors(people: SimpleNamespace, leave: FormVersion) -> None:
    result = xlsx.record_import_xlsx(
        actor=people.nurse.user,
        key="leave_form",
        file=_book([["标题", "床号", "title"], ["年休假", "12", "x"]]),
    )
    assert [(e.row, e.field, e.code) for e in result.errors] == [
        (1, "床号", "unknown_column"),
        (1, "title", "duplicate_column"),
    ]
    assert FormRecord.objects.count() == 0


def test_not_a_workbook_and_limits(people: SimpleNamespace, leave: FormVersion, settings: Any) -> None:
    fake = SimpleUploadedFile("x.xlsx", b"%PDF-1.4 not a workbook", content_type=xlsx.XLSX_TYPE)
    with pytest.raises(FormsInputError) as caught:
        xlsx.record_import_xlsx(actor=people.nurse.user, key="leave_form", file=fake)
    assert caught.value.field == "file"
    settings.MEDOA_IMPORT_MAX_ROWS = 2
    many = _book([HEADER] + [["年休假", 3, "annual", None, None, None, None, None, None]] * 3)
    with pytest.raises(FormsInputError) as caught:
        xlsx.record_import_xlsx(actor=people.nurse.user, key="leave_form", file=many)
    assert str(caught.value.message) == "表格超过 2 行。"
    assert FormRecord.objects.count() == 0


def test_import_needs_a_staff_member(people: SimpleNamespace, leave: FormVersion, user_factory: Any) -> None:
    with pytest.raises(FormsPermissionDenied):
        xlsx.record_import_xlsx(actor=user_factory(), key="leave_form", file=_book([HEADER]))


def test_api_export_and_import(people: SimpleNamespace, leave: FormVersion, api_as: Any) -> None:
    services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data())
    response = api_as(people.nurse).get("/api/v1/forms/leave_form/records/export")
    assert response.status_code == 200
    assert response["Content-Type"] == xlsx.XLSX_TYPE
    assert len(_rows(response.content)) == 2

    bad = api_as(people.nurse).post(
        "/api/v1/forms/leave_form/records/import",
        data={"file": _book([HEADER, ["x", 0, None, None, None, None, None, None, None]])},
    )
    assert bad.status_code == 422
    body = bad.json()
    assert body["detail_en"] == "The workbook has errors; nothing was imported."
    assert sorted((e["row"], e["field"], e["code"]) for e in body["errors"]) == [
        (2, "days", "min"),
        (2, "title", "min_length"),
    ]
    good = api_as(people.nurse).post(
        "/api/v1/forms/leave_form/records/import",
        data={"file": _book([HEADER, ["请假", 2, None, None, None, None, None, None, None]])},
    )
    assert good.status_code == 201, good.json()
    assert good.json()["created"] == 1
    assert FormRecord.objects.count() == 2
