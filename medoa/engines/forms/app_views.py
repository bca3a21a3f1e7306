"""The no-code apps' pages: the builder (list, new, edit, switch on/off, the chosen form's fields as
an htmx fragment) for designers, and each app's own page (its records with the app's columns and a
"New" button) for the roles that see it.

As in ``views``: the page parses its input (``app_forms``), checks permission, calls one service or
selector and renders; an app one may not see is a 404, the builder without the design permission a
403; the services' input errors go back beside their fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.policy import has_perm
from medoa.core.org.models import Department, Staff

from . import app_selectors, app_services, services
from .app_forms import AppForm, AppRecordQuery
from .apps import PERM_DESIGN, PERM_SUBMIT
from .conflicts import moment_of
from .errors import FormsInputError, FormsNotFound, FormsPermissionDenied
from .models import App, FormRecord
from .schema import Field

PAGE_SIZE = 20


def _designer(request: HttpRequest) -> None:
    if not has_perm(request.user, PERM_DESIGN):
        raise PermissionDenied


# --- the builder ---------------------------------------------------------------------------------


@login_required
@require_GET
def app_list(request: HttpRequest) -> HttpResponse:
    _designer(request)
    apps = list(app_selectors.app_list(viewer=request.user))
    return render(request, "forms/app_list.html", {"apps": apps})


def _save(request: HttpRequest, form: AppForm, app: App | None) -> App | None:
    """Create or change the app from a valid ``form``; the services' problems go beside their
    fields (None then)."""
    try:
        if app is None:
            return app_services.app_create(
                actor=request.user, slug=form.cleaned_data["slug"], spec=form.spec()
            )
        return app_services.app_update(actor=request.user, slug=app.slug, spec=form.spec())
    except FormsPermissionDenied:
        raise PermissionDenied from None
    except FormsInputError as exc:
        for field, message in exc.errors or [("", str(exc))]:
            form.add_error(field if field in form.fields else None, str(message))
    return None


def _builder(request: HttpRequest, app: App | None) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = AppForm(data, app=app, form_key=request.GET.get("form", "")[:64] if data is None else "")
    # "Show the form's fields" (without JavaScript) re-renders with the chosen form's fields
    if data is not None and "load_fields" not in data and form.is_valid():
        saved = _save(request, form, app)
        if saved is not None:
            messages.success(request, _("App “%(name)s” saved.") % {"name": saved.name})
            return redirect("forms:app_list")
    status = 400 if data is not None and "load_fields" not in data else 200
    context = {"form": form, "app": app}
    return render(request, "forms/app_edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def app_new(request: HttpRequest) -> HttpResponse:
    _designer(request)
    return _builder(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def app_edit(request: HttpRequest, slug: str) -> HttpResponse:
    _designer(request)
    try:
        app = app_selectors.app_get(viewer=request.user, slug=slug)
    except FormsNotFound:
        raise Http404 from None
    return _builder(request, app)


@login_required
@require_GET
def app_fields(request: HttpRequest) -> HttpResponse:
    """htmx: the columns and conflict-rule choices of the form chosen in the builder."""
    _designer(request)
    form = AppForm(None, form_key=request.GET.get("form", "")[:64])
    return render(request, "forms/_app_fields.html", {"form": form})


@login_required
@require_POST
def app_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    _designer(request)
    enabled = request.POST.get("enabled")
    if enabled not in ("0", "1"):
        return HttpResponse(
            _("Say enabled=1 or enabled=0."), status=400, content_type="text/plain; charset=utf-8"
        )
    try:
        app = app_services.app_enabled_set(actor=request.user, slug=slug, enabled=enabled == "1")
    except FormsNotFound:
        raise Http404 from None
    except FormsPermissionDenied:
        raise PermissionDenied from None
    if app.enabled:
        messages.success(request, _("App “%(name)s” enabled.") % {"name": app.name})
    else:
        messages.success(request, _("App “%(name)s” disabled.") % {"name": app.name})
    return redirect("forms:app_list")


# --- an app's page -------------------------------------------------------------------------------


def _column_fields(app: App) -> list[tuple[str, str, Field | None]]:
    """``(key, label, field)`` of the app's columns, labels from the form's current version."""
    by_key: dict[str, Field] = {}
    version = app.form.latest_version
    if version is not None:
        by_key = {f.key: f for f in services.parsed_schema(version).input_fields()}
    out = []
    for key in app.list_columns:
        field = by_key.get(key)
        label = (field.label or field.component.get("dateLabel") or key) if field is not None else key
        out.append((key, label, field))
    return out


def _names(
    records: list[FormRecord], columns: list[tuple[str, str, Field | None]]
) -> dict[str, dict[Any, str]]:
    """Names of the staff and departments the page's cells name (one query each, if any)."""
    staff_ids: set[int] = set()
    codes: set[str] = set()
    for key, _label, field in columns:
        if field is None or field.type not in ("medoa-staff", "medoa-department"):
            continue
        for record in records:
            for value in services.values_at(record.values, key):
                if field.type == "medoa-staff" and isinstance(value, int) and not isinstance(value, bool):
                    staff_ids.add(value)
                elif field.type == "medoa-department" and isinstance(value, str):
                    codes.add(value[:32])
    names: dict[str, dict[Any, str]] = {"staff": {}, "departments": {}}
    if staff_ids:
        names["staff"] = dict(Staff.objects.filter(pk__in=staff_ids).values_list("pk", "name"))
    if codes:
        names["departments"] = {d.code: d.name for d in Department.objects.filter(code__in=codes)}
    return names


def _shown(field: Field | None, value: Any, names: Mapping[str, Mapping[Any, str]]) -> str:
    if field is None:
        return str(value)
    if field.type == "medoa-staff":
        return names["staff"].get(value, str(value))
    if field.type == "medoa-department":
        return names["departments"].get(value, str(value))
    if field.type in ("select", "radio", "checklist", "taglist"):
        for option in field.component.get("values") or []:
            if isinstance(option, Mapping) and option.get("value") == value:
                return str(option.get("label") or value)
        return str(value)
    if field.type == "datetime" and isinstance(value, str) and "T" in value:
        moment = moment_of(value, end=False)
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment is not None else value
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(value)


def _cells(
    record: FormRecord, columns: list[tuple[str, str, Field | None]], names: Mapping[str, Mapping[Any, str]]
) -> list[str]:
    return [
        ", ".join(_shown(field, value, names) for value in services.values_at(record.values, key))
        for key, _label, field in columns
    ]


@login_required
@require_GET
def app_home(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        app = app_selectors.app_get(viewer=request.user, slug=slug)
    except FormsNotFound:
        raise Http404 from None
    query = AppRecordQuery(request.GET)
    page = None
    openable: frozenset[int] = frozenset()
    status = 200
    if query.is_valid():
        filters = {"status": query.cleaned_data["status"]} if query.cleaned_data["status"] else {}
        try:
            found = app_selectors.app_record_list(
                viewer=request.user,
                app=app,
                filters=filters,
                search=query.cleaned_data["q"],
                page=query.cleaned_data["page"] or 1,
                page_size=PAGE_SIZE,
            )
            page, openable = found.page, found.openable
        except FormsInputError as exc:
            query.add_error(None, str(exc))
            status = 400
    else:
        status = 400
    columns = _column_fields(app)
    # (record, its cells, whether the viewer may open it)
    rows: list[tuple[FormRecord, list[str], bool]] = []
    if page is not None:
        names = _names(page.items, columns)
        rows = [(record, _cells(record, columns, names), record.pk in openable) for record in page.items]
    published = app.form.latest_version is not None and app.form.is_active
    context = {
        "app": app,
        "query": query,
        "page": page,
        "rows": rows,
        "columns": columns,
        "new_url": app_selectors.app_new_url(app)
        if published and has_perm(request.user, PERM_SUBMIT)
        else "",
        "may_design": has_perm(request.user, PERM_DESIGN),
    }
    return render(request, "forms/app_home.html", context, status=status)
