"""Attachments of forms: the type read from the content (and the extension agreeing with it), the
size limit, storage under a random name outside the web root, binding to the record that names
them, and downloads only for the uploader (before) and for those who may see the record (after)."""

# The fixtures come from factories (imported below): the test parameters naming them are not
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils.translation import override
from openpyxl import Workbook

from medoa.engines.forms import selectors, services
from medoa.engines.forms.attachments import sniff, upload_problem
from medoa.engines.forms.errors import FormsInputError, FormsNotFound
from medoa.engines.forms.models import FormAttachment, FormVersion

from .factories import (  # noqa: F401  (fixtures)
    PDF,
    PNG,
    counts,
    good_data,
    grants,
    hospital,
    leave,
    media,
    people,
    person,
    upload,
)


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr(
            "[Content_Types].xml",
            '<Types><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        package.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def _xlsx() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("a.txt", "hello")
    return out.getvalue()


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PDF, "pdf"),
        (PNG, "png"),
        (JPEG, "jpeg"),
        (GIF, "gif"),
        (WEBP, "webp"),
        (_docx(), "docx"),
        (_xlsx(), "xlsx"),
        (_plain_zip(), None),
        (OLE, "ole"),
        ("体温 36.5℃\n".encode(), "text"),
        (b"\xff\xfe\x00bad", None),
        (b"a\x00b", None),
        (b"MZ\x90\x00\x03\x00\x00\x00", None),
    ],
)
def test_sniff_reads_the_content(content: bytes, kind: str | None) -> None:
    assert sniff(io.BytesIO(content)) == kind


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.pdf", PDF, ("", "application/pdf")),
        ("a.PNG", PNG, ("", "image/png")),
        ("a.jpeg", JPEG, ("", "image/jpeg")),
        ("a.jpg", JPEG, ("", "image/jpeg")),
        ("a.gif", GIF, ("", "image/gif")),
        ("a.webp", WEBP, ("", "image/webp")),
        ("a.docx", _docx(), ("", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
        ("a.xlsx", _xlsx(), ("", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        ("a.doc", OLE, ("", "application/msword")),
        ("a.xls", OLE, ("", "application/vnd.ms-excel")),
        ("a.txt", b"hello", ("", "text/plain; charset=utf-8")),
        ("a.csv", b"a,b\n1,2\n", ("", "text/csv; charset=utf-8")),
    ],
)
def test_accepted_uploads_get_the_type_of_their_content(
    name: str, content: bytes, expected: tuple[str, str]
) -> None:
    assert upload_problem(name, len(content), io.BytesIO(content)) == expected


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("a.png", PDF, "content_mismatch"),  # a PDF called .png
        ("a.pdf", b"<html><script>alert(1)</script>", "content_mismatch"),
        ("a.docx", _xlsx(), "content_mismatch"),  # a workbook called .docx
        ("a.xlsx", _plain_zip(), "content_mismatch"),
        ("a.txt", PNG, "content_mismatch"),
        ("a.jpg", PNG, "content_mismatch"),
        ("a.exe", b"MZ\x90", "extension"),
        ("a.html", b"<html>", "extension"),
        ("noextension", PDF, "extension"),
        ("a.svg", b"<svg/>", "extension"),
        ("a.pdf", b"", "empty"),
    ],
)
def test_refused_uploads_say_why(name: str, content: bytes, code: str) -> None:
    assert upload_problem(name, len(content), io.BytesIO(content))[0] == code


def test_size_limit_is_the_setting(settings: Any) -> None:
    settings.MEDOA_FORMS_MAX_UPLOAD_MB = 0.01  # 10485 bytes
    code, message = upload_problem("a.txt", 10486, io.BytesIO(b"a" * 10486))
    with override("en"):
        assert (code, str(message)) == ("too_large", "“a.txt” is larger than 0.01 MB.")
    assert upload_problem("a.txt", 10485, io.BytesIO(b"a" * 10485))[0] == ""


def test_default_limit_is_20_mb() -> None:
    assert upload_problem("a.txt", 20 * 1024 * 1024 + 1, io.BytesIO(b"a"))[0] == "too_large"


# --- the service ---------------------------------------------------------------------------------


def test_upload_stores_under_a_random_name_with_the_sniffed_type(people: SimpleNamespace, media: Any) -> None:
    row = services.attachment_upload(actor=people.nurse.user, file=upload("../../etc/体检报告.png"))
    assert len(row.pk) == 43
    assert row.name == "体检报告.png"
    assert row.content_type == "image/png"
    assert row.size == len(PNG)
    assert row.uploaded_by == people.nurse
    assert row.record is None
    assert row.file.name.startswith("forms/")
    assert "体检报告" not in row.file.name
    assert str(media) in row.file.path
    with open(row.file.path, "rb") as handle:
        assert handle.read() == PNG


def test_refused_upload_stores_nothing(people: SimpleNamespace, media: Any) -> None:
    with pytest.raises(FormsInputError) as caught:
        services.attachment_upload(actor=people.nurse.user, file=upload("a.png", PDF))
    assert caught.value.field == "file"
    assert FormAttachment.objects.count() == 0
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True


def test_attachment_bound_by_the_record_and_seen_by_those_who_see_it(
    people: SimpleNamespace, leave: FormVersion, media: Any
) -> None:
    row = services.attachment_upload(actor=people.nurse.user, file=upload("a.pdf", PDF, "application/pdf"))
    # before a record names it: the uploader only
    assert selectors.attachment_get(viewer=people.nurse.user, attachment_id=row.pk) == row
    for other in (people.nurse2, people.head, people.office):
        with pytest.raises(FormsNotFound):
            selectors.attachment_get(viewer=other.user, attachment_id=row.pk)

    record = services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(files=[row.pk]))
    row.refresh_from_db()
    assert row.record == record
    # after: those who may see the record (the submitter, the head of the department tree, the office)
    for allowed in (people.nurse, people.head, people.office):
        stored, name, content_type = selectors.attachment_open(viewer=allowed.user, attachment_id=row.pk)
        assert (stored, name, content_type) == (row.file.path, "a.pdf", "application/pdf")
    for refused in (people.nurse2, people.surgeon, people.it):
        with pytest.raises(FormsNotFound):
            selectors.attachment_get(viewer=refused.user, attachment_id=row.pk)


def test_someone_elses_token_is_not_usable(people: SimpleNamespace, leave: FormVersion, media: Any) -> None:
    row = services.attachment_upload(actor=people.nurse2.user, file=upload())
    before = counts()
    with pytest.raises(services.ValidationFailed) as caught:
        services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(files=[row.pk]))
    assert [(e.field, e.code) for e in caught.value.field_errors] == [("files", "not_found")]
    assert counts() == before


def test_a_token_bound_to_one_record_is_not_usable_for_another(
    people: SimpleNamespace, leave: FormVersion, media: Any
) -> None:
    row = services.attachment_upload(actor=people.nurse.user, file=upload())
    services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(files=[row.pk]))
    with pytest.raises(services.ValidationFailed) as caught:
        services.record_submit(actor=people.nurse.user, key="leave_form", data=good_data(files=[row.pk]))
    assert [(e.field, e.code) for e in caught.value.field_errors] == [("files", "not_found")]


# --- the API --------------------------------------------------------------------------------------


def test_api_upload_and_download(people: SimpleNamespace, api_as: Any, media: Any) -> None:
    anonymous = api_as(None).post("/api/v1/forms/attachments", data={"file": upload()})
    assert anonymous.status_code == 401

    response = api_as(people.nurse).post("/api/v1/forms/attachments", data={"file": upload("血常规.png")})
    assert response.status_code == 201, response.json()
    body = response.json()
    row = FormAttachment.objects.get()
    assert body == {
        "id": row.pk,
        "name": "血常规.png",
        "size": len(PNG),
        "content_type": "image/png",
        "sha256": row.sha256,
        "url": f"/api/v1/forms/attachments/{row.pk}",
    }

    download = api_as(people.nurse).get(body["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG
    assert download["Content-Type"] == "image/png"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "no-store" in download["Cache-Control"]

    assert api_as(people.nurse2).get(body["url"]).status_code == 404
    assert api_as(people.nurse).get("/api/v1/forms/attachments/nonexistent").status_code == 404


def test_api_refuses_a_disguised_file(people: SimpleNamespace, api_as: Any, media: Any) -> None:
    response = api_as(people.nurse).post("/api/v1/forms/attachments", data={"file": upload("a.pdf", PNG)})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "file"
    assert body["detail_en"] == "“a.pdf” is not a real PDF file: its content does not match its extension."
    assert FormAttachment.objects.count() == 0


def test_api_refuses_an_oversized_file(
    people: SimpleNamespace, api_as: Any, media: Any, settings: Any
) -> None:
    settings.MEDOA_FORMS_MAX_UPLOAD_MB = 0.01
    response = api_as(people.nurse).post(
        "/api/v1/forms/attachments", data={"file": upload("a.txt", b"a" * 20000, "text/plain")}
    )
    assert response.status_code == 413
    assert response.json()["detail_en"] == "The file is too large (at most 0.01 MB)."
    assert FormAttachment.objects.count() == 0
