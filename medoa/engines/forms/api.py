"""REST endpoints of the form engine (mounted at /api/v1/forms by medoa.api.api).

People authenticate with ``Authorization: Bearer <token>``. Every error has the API's shape
(``{"detail", "detail_en"}``, and ``"errors"`` per field at fault: ``field``, ``code``/``type``,
``message`` in Chinese, ``message_en``). A missing permission answers 403; a form, record or
attachment the caller may not see answers 404.

Forms
    ``POST /`` — the body IS a form-js schema (a JSON object); it is created (when new) and
    published as the next version: 201 ``{"key", "version"}``. The key is the query parameter
    ``key`` when given, else the schema's ``"id"``; ``name`` and ``category`` are query
    parameters. The same schema again publishes nothing new (the same version comes back). A
    schema with problems answers 400 with every problem under ``"problems"`` and stores nothing.
    Needs ``forms.definition.design``.
    ``GET /`` — the forms the caller may fill in (designers: all); ``GET /{key}`` — the current
    version's schema (``?version=n`` for another).
    ``POST /{key}/validate`` ``{"data": {...}}`` → ``{"valid", "errors": [{"field", "code",
    "message", "message_en"}]}`` (always 200 when the request itself is well-formed).
Records
    ``POST /{key}/records`` ``{"data", "version"?, "status"?: "submitted"|"draft", "subject"?}`` →
    201 the record; invalid data → 422 with one error per field; data for another version → 409.
    ``GET /{key}/records?search=&sort=&page=&page_size=&<filter>=...`` — filters: ``status``,
    ``submitter``, ``department``, ``submitted_from``, ``submitted_to``, ``subject``,
    ``version``, ``source``, and the fields marked for reporting: ``<field>=v`` or
    ``<field>__gte=v`` (``ne gt gte lt lte in contains``); any other parameter is a 422.
    ``GET /{key}/records/export`` (.xlsx), ``POST /{key}/records/import`` (multipart ``file``;
    row errors → 422, nothing imported).
    ``GET /records/{id}``, ``PATCH /records/{id}`` ``{"data"}`` (the submitter, while allowed).
Attachments
    ``POST /attachments`` (multipart ``file``) → 201 ``{"id", ...}``: the token to put in a form's
    attachment field; ``GET /attachments/{id}`` — the file, for its uploader (until a record
    names it) and for those who may see the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import File, Query, Router, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile

from medoa.core.access.policy import has_perm
from medoa.core.apierrors import MESSAGES, ErrorOut, api_user, http_error, in_both, translate_error

from . import selectors, services, xlsx
from .apps import PERM_SUBMIT
from .attachments import download_response, max_upload_bytes
from .choices import RecordSource
from .errors import (
    FormsConflict,
    FormsError,
    FormsNotFound,
    FormsPermissionDenied,
    SchemaInvalid,
    ValidationFailed,
    fmt,
)
from .models import FormAttachment, FormRecord
from .schemas import (
    AttachmentOut,
    FormDetailOut,
    FormOut,
    ImportedOut,
    ImportInvalidOut,
    InvalidOut,
    PublishedOut,
    PublishParams,
    RecordIn,
    RecordOut,
    RecordPageOut,
    RecordUpdateIn,
    SchemaInvalidOut,
    ValidateIn,
    ValidateOut,
    VersionParams,
)

router = Router(tags=["forms"])

T = TypeVar("T")
MULTIPART_SLACK = 64 * 1024
LIST_PARAMS = {"search", "sort", "page", "page_size"}

ERRORS: dict[int, Any] = {
    400: InvalidOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: InvalidOut,
    413: ErrorOut,
    422: InvalidOut,
}


def _responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    return {**{code: ERRORS[code] for code in (401, *codes)}, **ok}


# --- errors ---------------------------------------------------------------------------------------


def _error_row(field: str, message: Any, code: str) -> dict[str, str]:
    zh, en = in_both(message)
    return {"field": field, "code": code, "type": code, "message": zh, "message_en": en}


def _field_errors(errors: list[Any]) -> list[dict[str, str]]:
    return [_error_row(e.field, e.message, e.code) for e in errors]


def _from_forms_error(exc: FormsError) -> HttpError:
    if isinstance(exc, ValidationFailed):
        return http_error(422, exc.message, errors=_field_errors(exc.field_errors))
    if isinstance(exc, SchemaInvalid):
        problems = []
        for problem in exc.problems:
            zh, en = in_both(problem.message)
            problems.append({"path": problem.path, "code": problem.code, "message": zh, "message_en": en})
        return http_error(400, exc.message, problems=problems)
    if isinstance(exc, FormsPermissionDenied):
        return http_error(403, exc.message)
    if isinstance(exc, FormsNotFound):
        return http_error(404, exc.message)
    rows = [_error_row(field or "", text, "invalid") for field, text in exc.errors]
    if isinstance(exc, FormsConflict):
        return http_error(
            409, exc.message, errors=[{**r, "code": "conflict", "type": "conflict"} for r in rows]
        )
    return http_error(422, exc.message, errors=rows)


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except FormsError as exc:
        raise _from_forms_error(exc) from None


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except (TypeError, ValueError):
        return 0


# --- shaping --------------------------------------------------------------------------------------


def _record_out(record: FormRecord) -> dict[str, Any]:
    submitter = record.submitter
    return {
        "id": record.pk,
        "key": record.definition.key,
        "version": record.version.version,
        "status": record.status,
        "source": record.source,
        "subject": record.subject,
        "submitter": (
            {"id": submitter.pk, "name": submitter.name, "username": submitter.user.get_username()}
            if submitter is not None
            else None
        ),
        "department": record.department.code if record.department is not None else None,
        "submitted_at": record.submitted_at,
        "updated_at": record.updated_at,
        "data": record.values,
    }


def _attachment_out(row: FormAttachment) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "size": row.size,
        "content_type": row.content_type,
        "sha256": row.sha256,
        "url": reverse("api:forms_attachment_download", kwargs={"attachment_id": row.pk}),
    }


# --- attachments (before /{key} so that the literal paths win) -------------------------------------


@router.post(
    "/attachments",
    response=_responses({201: AttachmentOut}, 403, 413, 422),
    summary="Upload a file for a form's attachment field",
    description="Multipart field `file`. The size limit is MEDOA_FORMS_MAX_UPLOAD_MB (20 MB by "
    "default); the type is read from the content (PDF, PNG, JPEG, GIF, WebP, DOCX, XLSX, DOC, XLS, "
    "UTF-8 TXT/CSV) and must agree with the extension. The answer's `id` goes into the form's data.",
)
def attachments_upload(request: HttpRequest, file: File[UploadedFile]) -> Any:
    user = api_user(request)
    limit = max_upload_bytes()
    if _content_length(request) > limit + MULTIPART_SLACK or (file.size or 0) > limit:
        raise http_error(
            413,
            fmt(_("The file is too large (at most %(max)s MB)."), {"max": round(limit / (1024 * 1024), 2)}),
        )
    row = _call(services.attachment_upload, actor=user, file=file)
    return Status(201, _attachment_out(row))


@router.get(
    "/attachments/{attachment_id}",
    response={200: None, **_responses({}, 404)},
    url_name="forms_attachment_download",
    summary="Download an attachment (its uploader, or those who may see its record)",
)
def attachments_download(request: HttpRequest, attachment_id: str) -> Any:
    user = api_user(request)
    row = _call(selectors.attachment_get, viewer=user, attachment_id=attachment_id)
    try:
        handle = row.file.open("rb")
    except FileNotFoundError:
        raise http_error(404, _("Not found.")) from None
    return download_response(handle, name=row.name, content_type=row.content_type)


# --- records by id --------------------------------------------------------------------------------


@router.get(
    "/records/{record_id}",
    response=_responses({200: RecordOut}, 404),
    summary="One record (for those who may see it)",
)
def records_get(request: HttpRequest, record_id: int) -> Any:
    user = api_user(request)
    return _record_out(_call(selectors.record_get, viewer=user, record_id=record_id))


@router.patch(
    "/records/{record_id}",
    response=_responses({200: RecordOut}, 403, 404, 409, 422),
    summary="Change a record's data (its submitter, while it is a draft or not tied to a process)",
)
def records_update(request: HttpRequest, record_id: int, payload: RecordUpdateIn) -> Any:
    user = api_user(request)
    record = _call(selectors.record_get, viewer=user, record_id=record_id)
    updated = _call(services.record_update, actor=user, record=record, data=payload.data)
    return _record_out(selectors.record_get(viewer=user, record_id=updated.pk))


# --- forms ----------------------------------------------------------------------------------------

PUBLISH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": 'a form-js schema: {"type": "default", "id": ..., "components": [...]}',
                }
            }
        },
    }
}


def _json_object_body(request: HttpRequest) -> dict[str, Any]:
    if _content_length(request) > services.MAX_SCHEMA_BYTES:
        raise http_error(413, _("The schema is too large (at most 1 MB)."))
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        errors = [translate_error({"type": "json_invalid", "loc": ("body",)})]
        raise http_error(400, MESSAGES["json_invalid"], errors=errors) from None
    if not isinstance(body, dict):
        raise http_error(
            400,
            _("The body must be a form-js schema (a JSON object)."),
            errors=[_error_row("body", _("Must be an object."), "dict_type")],
        )
    return body


@router.post(
    "",
    response=_responses({201: PublishedOut, 400: SchemaInvalidOut}, 403, 409, 413, 422),
    summary="Publish a form-js schema (a new form, or the next version of its key)",
    openapi_extra=PUBLISH_BODY,
)
def forms_publish(request: HttpRequest, params: Query[PublishParams]) -> Any:
    user = api_user(request)
    if not has_perm(user, "forms.definition.design"):
        raise http_error(403, _("You do not have permission to do this."))
    schema = _json_object_body(request)
    version = _call(
        services.form_schema_publish,
        actor=user,
        schema=schema,
        key=params.key,
        name=params.name,
        category=params.category,
    )
    return Status(201, {"key": version.definition.key, "version": version.version})


def _form_out(definition: Any) -> dict[str, Any]:
    latest = definition.latest_version
    return {
        "key": definition.key,
        "name": definition.name,
        "category": definition.category,
        "version": latest.version if latest else None,
        "published_at": latest.published_at if latest else None,
    }


@router.get("", response=_responses({200: list[FormOut]}), summary="The forms the caller may fill in")
def forms_list(request: HttpRequest) -> Any:
    user = api_user(request)
    return [_form_out(d) for d in selectors.form_list(viewer=user)]


@router.get(
    "/{key}",
    response=_responses({200: FormDetailOut}, 404),
    by_alias=True,
    summary="A form's published schema (the current version, or ?version=n)",
)
def forms_get(request: HttpRequest, key: str, params: Query[VersionParams]) -> Any:
    user = api_user(request)
    version = _call(selectors.form_version_get, viewer=user, key=key, version=params.version)
    definition = version.definition
    return {
        "key": definition.key,
        "name": definition.name,
        "category": definition.category,
        "version": version.version,
        "published_at": version.published_at,
        "schema": version.schema,
        "reporting": version.reporting,
        "versions": list(selectors.form_versions(definition=definition).values_list("version", flat=True)),
    }


@router.post(
    "/{key}/validate",
    response=_responses({200: ValidateOut}, 403, 404, 409, 422),
    summary="Check data against a form without storing anything",
)
def forms_validate(request: HttpRequest, key: str, payload: ValidateIn) -> Any:
    user = api_user(request)
    if not has_perm(user, PERM_SUBMIT):
        raise http_error(403, _("You do not have permission to do this."))
    result = _call(services.record_validate, actor=user, key=key, data=payload.data, version=payload.version)
    return {
        "valid": result.valid,
        "errors": [
            {k: row[k] for k in ("field", "code", "message", "message_en")}
            for row in _field_errors(result.errors)
        ],
    }


# --- records --------------------------------------------------------------------------------------


@router.post(
    "/{key}/records",
    response=_responses({201: RecordOut}, 403, 404, 409, 422),
    summary="Submit data as a record of the form (validated against its current version)",
)
def records_submit(request: HttpRequest, key: str, payload: RecordIn) -> Any:
    user = api_user(request)
    record = _call(
        services.record_submit,
        actor=user,
        key=key,
        data=payload.data,
        version=payload.version,
        status=payload.status,
        subject=payload.subject,
        source=RecordSource.API,
    )
    return Status(201, _record_out(selectors.record_get(viewer=user, record_id=record.pk)))


def _list_args(request: HttpRequest) -> dict[str, Any]:
    """search / sort / page / page_size, and every other query parameter as a filter."""
    args: dict[str, Any] = {"filters": {}}
    for name in request.GET:
        values = request.GET.getlist(name)
        if name in LIST_PARAMS:
            value = values[-1]
            if name in ("page", "page_size"):
                try:
                    args[name] = int(value)
                except ValueError:
                    raise http_error(
                        422,
                        MESSAGES["int_parsing"],
                        errors=[_error_row(name, MESSAGES["int_parsing"], "int_parsing")],
                    ) from None
            else:
                args[name] = value
        else:
            args["filters"][name] = values if len(values) > 1 else values[0]
    return args


@router.get(
    "/{key}/records",
    response=_responses({200: RecordPageOut}, 404, 422),
    summary="The form's records the caller may see: filters, search, sort and paging",
)
def records_list(request: HttpRequest, key: str) -> Any:
    user = api_user(request)
    _call(selectors.form_get, viewer=user, key=key)
    page = _call(selectors.record_list, viewer=user, key=key, **_list_args(request))
    return {
        "items": [_record_out(r) for r in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


@router.get(
    "/{key}/records/export",
    response={200: None, **_responses({}, 404, 422)},
    summary="The records (filtered as the list) as an .xlsx workbook",
)
def records_export(request: HttpRequest, key: str) -> Any:
    user = api_user(request)
    _call(selectors.form_get, viewer=user, key=key)
    args = _list_args(request)
    args.pop("page", None)
    args.pop("page_size", None)
    content = _call(xlsx.record_export_xlsx, viewer=user, key=key, **args)
    response = HttpResponse(content, content_type=xlsx.XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{key}.xlsx"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.post(
    "/{key}/records/import",
    response=_responses({201: ImportedOut, 422: ImportInvalidOut}, 403, 404, 413),
    summary="Import records from an .xlsx workbook: every row valid, or nothing is imported",
)
def records_import(request: HttpRequest, key: str, file: File[UploadedFile]) -> Any:
    user = api_user(request)
    result = _call(xlsx.record_import_xlsx, actor=user, key=key, file=file)
    if result.errors:
        rows = []
        for error in result.errors:
            zh, en = in_both(error.message)
            rows.append(
                {"row": error.row, "field": error.field, "code": error.code, "message": zh, "message_en": en}
            )
        raise http_error(422, _("The workbook has errors; nothing was imported."), errors=rows)
    return Status(201, {"created": len(result.records), "ids": [r.pk for r in result.records]})
