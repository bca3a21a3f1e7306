"""The form engine's pages: the form list, the designer (form-js editor: draft, publish with the
server's problems, preview, JSON upload/download), the fill page (form-js viewer; the server's
errors beside their fields), the record list (filters on reporting fields, search, sort, paging,
.xlsx export and import) and the record page, the pickers' lookups and the attachments.

Each view parses its input (forms.py), checks permission, calls one service or selector and
renders. Service errors map the same way everywhere: ``FormsNotFound`` → 404,
``FormsPermissionDenied`` → 403; input errors go back beside their field (JSON ``errors`` for the
designer and fill pages, the form's errors on the record list).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.policy import has_perm
from medoa.core.errors import error_pages
from medoa.core.org.models import Department, Staff
from medoa.core.org.selectors import department_list, staff_directory

from . import selectors, services, xlsx
from .apps import PERM_DESIGN, PERM_SUBMIT
from .attachments import download_response
from .errors import (
    FormsConflict,
    FormsError,
    FormsInputError,
    FormsNotFound,
    FormsPermissionDenied,
    SchemaInvalid,
    ValidationFailed,
)
from .forms import PAGE_SIZES, FormNewForm, ImportForm, LookupForm, RecordFilterForm
from .models import FormDefinition, FormRecord, FormVersion

MAX_BODY_BYTES = 2 * 1024 * 1024
LOOKUP_LIMIT = 15
PICKER_TYPES = {"medoa-staff": "staff", "medoa-department": "departments"}
ATTACHMENT_TYPES = {"medoa-attachment", "medoa-signature"}

# the services' not-found and permission errors as 404 and 403 pages
_forms_errors = error_pages(not_found=FormsNotFound, denied=FormsPermissionDenied)


def _require(request: HttpRequest, code: str) -> None:
    if not has_perm(request.user, code):
        raise PermissionDenied


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object (the designer and the fill page post JSON)."""
    if len(request.body) > MAX_BODY_BYTES:
        raise FormsInputError(_("The request is larger than 2 MB."))
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise FormsInputError(_("The request is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise FormsInputError(_("The request must be a JSON object."))
    return body


def _refusal(exc: FormsError, status: int = 400) -> JsonResponse:
    errors = [{"field": field or "", "message": str(message)} for field, message in exc.errors]
    return JsonResponse({"ok": False, "message": str(exc), "errors": errors}, status=status)


def _designer_of(request: HttpRequest) -> None:
    _require(request, PERM_DESIGN)


# --- the form list ---------------------------------------------------------------------------------


@login_required
@require_GET
def form_list(request: HttpRequest) -> HttpResponse:
    may_design = has_perm(request.user, PERM_DESIGN)
    definitions = selectors.form_list(viewer=request.user)
    if may_design:
        definitions = definitions.select_related("draft")
    context = {
        "definitions": list(definitions),
        "may_design": may_design,
        "may_submit": has_perm(request.user, PERM_SUBMIT),
    }
    return render(request, "forms/form_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def form_new(request: HttpRequest) -> HttpResponse:
    """Name a new form; its draft starts empty and opens in the designer."""
    _designer_of(request)
    form = FormNewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["key"]
        try:
            services.form_create(
                actor=request.user,
                key=key,
                name=form.cleaned_data["name"],
                category=form.cleaned_data["category"],
                schema={"type": "default", "id": key, "components": []},
            )
        except FormsPermissionDenied:
            raise PermissionDenied from None
        except FormsError as exc:
            for field, message in exc.errors or [("", str(exc))]:
                form.add_error(field if field in form.fields else None, str(message))
        else:
            return redirect("forms:designer", key=key)
    return render(request, "forms/form_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_GET
@_forms_errors
def form_versions(request: HttpRequest, key: str) -> HttpResponse:
    _designer_of(request)
    definition = selectors.form_get(viewer=request.user, key=key)
    versions = selectors.form_versions(definition=definition).select_related("published_by")
    return render(request, "forms/form_versions.html", {"definition": definition, "versions": versions})


@login_required
@require_GET
@_forms_errors
def form_schema(request: HttpRequest, key: str) -> HttpResponse:
    """Download a published version's schema (``?version=N``, the current one by default)."""
    raw = request.GET.get("version")
    if raw is not None and (not raw.isdigit() or int(raw) >= 2**31):
        raise Http404
    version = selectors.form_version_get(key=key, version=int(raw) if raw else None, viewer=request.user)
    response = HttpResponse(
        json.dumps(version.schema, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{key}-v{version.version}.form"'
    return response


# --- the designer ----------------------------------------------------------------------------------


def _designer_state(definition: FormDefinition) -> tuple[dict[str, Any], str]:
    """The schema the designer opens and what it is: the draft unless the latest published
    version is newer than it."""
    latest: FormVersion | None = definition.latest_version
    draft = getattr(definition, "draft", None)
    if draft is not None and (latest is None or draft.updated_at >= latest.published_at):
        return dict(draft.schema), "draft"
    if latest is not None:
        return dict(latest.schema), "version"
    return {"type": "default", "id": definition.key, "components": []}, "new"


@login_required
@require_GET
@_forms_errors
def designer(request: HttpRequest, key: str) -> HttpResponse:
    _designer_of(request)
    definition = selectors.form_get(viewer=request.user, key=key)
    _schema, opens = _designer_state(definition)
    context = {
        "definition": definition,
        "opens": opens,
        "draft": getattr(definition, "draft", None),
        "latest": definition.latest_version,
    }
    return render(request, "forms/designer.html", context)


@login_required
@require_GET
@_forms_errors
def designer_schema(request: HttpRequest, key: str) -> JsonResponse:
    _designer_of(request)
    definition = selectors.form_get(viewer=request.user, key=key)
    schema, _opens = _designer_state(definition)
    return JsonResponse(schema)


@login_required
@require_POST
@_forms_errors
def designer_save(request: HttpRequest, key: str) -> JsonResponse:
    _designer_of(request)
    try:
        body = _json_body(request)
        name = body.get("name")
        schema: Any = body.get("schema")  # the service checks it is a storable JSON object
        draft = services.form_draft_save(
            actor=request.user, key=key, schema=schema, name=name if isinstance(name, str) else None
        )
    except FormsInputError as exc:
        return _refusal(exc)
    return JsonResponse({"ok": True, "message": _("Draft saved."), "saved_at": draft.updated_at.isoformat()})


@login_required
@require_POST
@_forms_errors
def designer_publish(request: HttpRequest, key: str) -> JsonResponse:
    """Publish the saved draft (the page saves it first); every problem comes back."""
    _designer_of(request)
    try:
        version = services.form_publish(actor=request.user, key=key)
    except SchemaInvalid as exc:
        problems = [{"path": p.path, "code": p.code, "message": str(p.message)} for p in exc.problems]
        return JsonResponse({"ok": False, "message": str(exc), "problems": problems}, status=400)
    except FormsInputError as exc:
        return _refusal(exc)
    return JsonResponse(
        {
            "ok": True,
            "version": version.version,
            "message": _("Version %(version)d of %(name)s published.")
            % {"version": version.version, "name": version.definition.name},
            "fill_url": reverse("forms:form_fill", args=[key]),
        }
    )


# --- filling in ------------------------------------------------------------------------------------


def _names_for(
    schema_fields: Iterable[Any], values: Mapping[str, Any], user: Any
) -> dict[str, dict[str, str]]:
    """Display names of the staff, departments and attachments ``values`` names, for the viewer."""
    wanted: dict[str, set[Any]] = {"staff": set(), "departments": set(), "attachments": set()}
    for field in schema_fields:
        kind = PICKER_TYPES.get(field.type) or ("attachments" if field.type in ATTACHMENT_TYPES else None)
        if kind is None:
            continue
        for value in services.values_at(values, field.key):
            for item in value if isinstance(value, list) else [value]:
                if kind == "staff" and isinstance(item, int) and not isinstance(item, bool):
                    wanted["staff"].add(item)
                elif kind != "staff" and isinstance(item, str) and 0 < len(item) <= 64:
                    wanted[kind].add(item)
    names: dict[str, dict[str, str]] = {"staff": {}, "departments": {}, "attachments": {}}
    if wanted["staff"]:
        for staff in Staff.objects.filter(pk__in=wanted["staff"]).only("pk", "name"):
            names["staff"][str(staff.pk)] = staff.name
    if wanted["departments"]:
        for dept in Department.objects.filter(code__in=wanted["departments"]):
            names["departments"][dept.code] = dept.name
    for token in wanted["attachments"]:
        try:
            names["attachments"][token] = selectors.attachment_get(viewer=user, attachment_id=token).name
        except FormsNotFound:
            continue
    return names


def _viewer_urls() -> dict[str, str]:
    return {
        "staffSearchUrl": reverse("forms:staff_lookup"),
        "departmentSearchUrl": reverse("forms:department_lookup"),
        "uploadUrl": reverse("forms:attachment_upload"),
        "downloadUrl": reverse("forms:attachment_download", args=["TOKEN"]),
    }


@login_required
@require_http_methods(["GET", "POST"])
@_forms_errors
def form_fill(request: HttpRequest, key: str) -> HttpResponse:
    """GET: the form to fill in; POST (JSON ``{"data", "version"}``): the record, or the errors."""
    _require(request, PERM_SUBMIT)
    version = selectors.form_version_get(key=key, viewer=request.user)
    if request.method == "POST":
        try:
            body = _json_body(request)
            raw_version = body.get("version")
            data: Any = body.get("data")  # the service checks it is a JSON object
            record = services.record_submit(
                actor=request.user,
                key=key,
                data=data,
                version=raw_version
                if isinstance(raw_version, int) and not isinstance(raw_version, bool)
                else None,
            )
        except ValidationFailed as exc:
            errors = [{"field": e.field, "code": e.code, "message": str(e.message)} for e in exc.field_errors]
            return JsonResponse({"ok": False, "message": str(exc), "errors": errors}, status=400)
        except FormsConflict as exc:
            return _refusal(exc, status=409)
        except FormsInputError as exc:
            return _refusal(exc)
        messages.success(request, _("Submitted. Thank you."))
        return JsonResponse(
            {
                "ok": True,
                "record": record.pk,
                "record_url": reverse("forms:record_detail", args=[record.pk]),
            },
            status=201,
        )
    context = {
        "definition": version.definition,
        "version": version,
        "schema": version.schema,
        "urls": _viewer_urls(),
    }
    return render(request, "forms/form_fill.html", context)


# --- records ---------------------------------------------------------------------------------------


def _reporting_fields(definition: FormDefinition) -> list[tuple[str, str, str]]:
    """``(key, label, kind)`` of the fields marked for reporting, labels from the latest version."""
    kinds = selectors.reporting_kinds(definition)
    labels: dict[str, str] = {}
    if definition.latest_version is not None:
        parsed = services.parsed_schema(definition.latest_version)
        for field in parsed.input_fields():
            labels[field.key] = field.label or field.key
    return [(key, labels.get(key, key), kind) for key, kind in kinds.items()]


def _cell(values: Mapping[str, Any], key: str) -> str:
    found = services.values_at(values, key)
    shown: list[str] = []
    for value in found:
        if isinstance(value, list):
            shown.extend(str(v) for v in value)
        elif isinstance(value, bool):
            shown.append(_("Yes") if value else _("No"))
        elif value is not None:
            shown.append(str(value))
    return ", ".join(shown)


@login_required
@require_GET
def record_index(request: HttpRequest) -> HttpResponse:
    """The forms whose records one may list (every published form; each list shows only the
    records in one's scope)."""
    definitions = selectors.form_list(viewer=request.user).filter(latest_version__isnull=False)
    return render(request, "forms/record_index.html", {"definitions": definitions})


def _record_query(request: HttpRequest, definition: FormDefinition) -> RecordFilterForm:
    return RecordFilterForm(request.GET, fields=_reporting_fields(definition))


@login_required
@require_http_methods(["GET", "POST"])
@_forms_errors
def record_list(request: HttpRequest, key: str) -> HttpResponse:
    """GET: the list; POST: import an .xlsx (all rows or none), then the list with the row errors."""
    definition = selectors.form_get(viewer=request.user, key=key)
    import_form = ImportForm()
    import_errors: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        _require(request, PERM_SUBMIT)
        import_form = ImportForm(request.POST, request.FILES)
        if import_form.is_valid():
            try:
                result = xlsx.record_import_xlsx(
                    actor=request.user, key=key, file=import_form.cleaned_data["file"]
                )
            except FormsInputError as exc:
                import_errors = [
                    {"row": "", "field": field or "", "message": str(message)}
                    for field, message in exc.errors
                ] or [{"row": "", "field": "", "message": str(exc)}]
                status = 400
            else:
                if result.ok:
                    messages.success(
                        request, _("%(count)d records imported.") % {"count": len(result.records)}
                    )
                    return redirect("forms:record_list", key=key)
                import_errors = [
                    {"row": e.row, "field": e.field, "message": str(e.message)} for e in result.errors
                ]
                status = 400
        else:
            status = 400
    query = _record_query(request, definition)
    page = None
    if query.is_valid():
        try:
            page = selectors.record_list(
                viewer=request.user,
                key=key,
                filters=query.filters(),
                search=query.cleaned_data["q"],
                sort=query.cleaned_data["sort"] or "-submitted_at",
                page=query.cleaned_data["page"] or 1,
                page_size=query.cleaned_data["page_size"] or PAGE_SIZES[0],
            )
        except FormsInputError as exc:
            query.add_error(None, str(exc))
            status = 400
    else:
        status = 400
    reporting = query.reporting
    rows = []
    if page is not None:
        rows = [
            (record, [_cell(record.values, k) for k, _label, _kind in reporting]) for record in page.items
        ]
    context = {
        "definition": definition,
        "query": query,
        "page": page,
        "rows": rows,
        "reporting": reporting,
        "import_form": import_form,
        "import_errors": import_errors,
        "may_submit": has_perm(request.user, PERM_SUBMIT),
        "export_query": urlencode(
            [(k, str(v)) for k, v in request.GET.items() if k not in ("page", "page_size")]
        ),
    }
    return render(request, "forms/record_list.html", context, status=status)


@login_required
@require_GET
@_forms_errors
def record_export(request: HttpRequest, key: str) -> HttpResponse:
    definition = selectors.form_get(viewer=request.user, key=key)
    query = _record_query(request, definition)
    if not query.is_valid():
        return HttpResponse(status=400)
    try:
        content = xlsx.record_export_xlsx(
            viewer=request.user,
            key=key,
            filters=query.filters(),
            search=query.cleaned_data["q"],
            sort=query.cleaned_data["sort"] or "-submitted_at",
        )
    except FormsInputError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{key}-records.xlsx"'
    return response


@login_required
@require_GET
@_forms_errors
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record: FormRecord = selectors.record_get(viewer=request.user, record_id=pk)
    parsed = services.parsed_schema(record.version)
    context = {
        "record": record,
        "definition": record.definition,
        "schema": record.version.schema,
        "values": record.values,
        "names": _names_for(parsed.input_fields(), record.values, request.user),
        "urls": _viewer_urls(),
    }
    return render(request, "forms/record_detail.html", context)


# --- lookups for the pickers -----------------------------------------------------------------------


def _lookup_text(request: HttpRequest) -> str:
    form = LookupForm(request.GET)
    return form.cleaned_data["q"].strip() if form.is_valid() else ""


@login_required
@require_GET
def staff_lookup(request: HttpRequest) -> JsonResponse:
    """The staff picker's options: people in the directory matching ``q`` (name, phone, department)."""
    text = _lookup_text(request)
    people = staff_directory(user=request.user, search=text)[:LOOKUP_LIMIT] if text else []
    results = [{"id": s.pk, "name": s.name, "department": s.department.name} for s in people]
    return JsonResponse({"results": results})


@login_required
@require_GET
def department_lookup(request: HttpRequest) -> JsonResponse:
    """The department picker's options: active departments matching ``q`` (name or code)."""
    text = _lookup_text(request)
    departments = (
        department_list(user=request.user, status="active", search=text)[:LOOKUP_LIMIT] if text else []
    )
    return JsonResponse({"results": [{"code": d.code, "name": d.name} for d in departments]})


# --- attachments -----------------------------------------------------------------------------------


@login_required
@require_POST
@_forms_errors
def attachment_upload(request: HttpRequest) -> JsonResponse:
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"ok": False, "message": _("Choose a file.")}, status=400)
    try:
        row = services.attachment_upload(actor=request.user, file=upload)
    except FormsInputError as exc:
        return _refusal(exc)
    return JsonResponse({"ok": True, "id": row.pk, "name": row.name, "size": row.size}, status=201)


@login_required
@require_GET
@_forms_errors
def attachment_download(request: HttpRequest, token: str) -> FileResponse:
    path, name, content_type = selectors.attachment_open(viewer=request.user, attachment_id=token)
    try:
        handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    except OSError:
        raise Http404 from None
    return download_response(handle, name=name, content_type=content_type)
