"""Organisation pages: department tree editor, staff admin, role assignment, bulk import,
directory and delegations. Each view parses input, checks permission (and the object), calls one
service or selector, and renders."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medoa.core.access.choices import DataScope
from medoa.core.access.models import User
from medoa.core.access.policy import has_perm, principal_of, widest_scope

from . import services
from .cards import CERTIFICATE_SOON_DAYS
from .choices import RoleScope
from .forms import (
    CertificateForm,
    DelegationForm,
    DepartmentForm,
    DepartmentMoveForm,
    DirectoryFilterForm,
    RoleAssignForm,
    StaffCreateForm,
    StaffDeactivateForm,
    StaffFilterForm,
    StaffForm,
    StaffImportForm,
    active_departments,
    apply_errors,
)
from .imports import (
    IMPORT_COLUMNS,
    ImportFileError,
    check_staff_rows,
    read_staff_file,
    template_csv,
    template_xlsx,
)
from .models import Delegation, Department, Role, RoleAssignment, Staff, StaffCertificate
from .selectors import (
    can_manage_certificates,
    can_manage_staff,
    can_view_private,
    certificate_get_for_manage,
    certificate_list_for_staff,
    delegation_get,
    delegation_list_for_user,
    delegation_state,
    delegators_for_user,
    department_root,
    department_tree_nodes,
    staff_directory,
    staff_for_delegation_choice,
    staff_get,
    staff_list,
)

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _require(request: HttpRequest, code: str, *, department: Department | None = None) -> None:
    if not has_perm(request.user, code, department=department):
        raise PermissionDenied


def _page(request: HttpRequest, qs: QuerySet[Any]) -> Page[Any]:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- departments ---------------------------------------------------------------------------------


@login_required
@require_GET
def department_tree(request: HttpRequest) -> HttpResponse:
    _require(request, "org.department.manage")
    departments = Department.objects.select_related("head").order_by("path")
    return render(request, "org/department_tree.html", {"nodes": department_tree_nodes(departments)})


def _department_or_404(pk: int) -> Department:
    return get_object_or_404(Department.objects.select_related("parent", "head"), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def department_create(request: HttpRequest) -> HttpResponse:
    _require(request, "org.department.manage")
    parent: Department | None = None
    parent_id = request.GET.get("parent") or request.POST.get("parent")
    if parent_id:
        if not str(parent_id).isdigit():
            raise Http404
        parent = _department_or_404(int(parent_id))
    # a new department lies under its parent; the root needs the whole-hospital scope
    if parent is not None:
        _require(request, "org.department.manage", department=parent)
    elif widest_scope(request.user, "org.department.manage") != DataScope.ALL:
        raise PermissionDenied
    initial = {"kind": "department" if parent is not None else "hospital", "sort_order": 0}
    form = DepartmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            dept = services.department_create(actor=_user(request), parent=parent, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Department %(name)s created.") % {"name": dept.name})
            return redirect("org:department_tree")
    return render(request, "org/department_form.html", {"form": form, "parent": parent, "department": None})


@login_required
@require_http_methods(["GET", "POST"])
def department_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "org.department.manage")
    dept = _department_or_404(pk)
    _require(request, "org.department.manage", department=dept)
    initial = {
        "code": dept.code,
        "name_zh": dept.name_zh,
        "name_en": dept.name_en,
        "kind": dept.kind,
        "category": dept.category,
        "head": dept.head_id,
        "sort_order": dept.sort_order,
    }
    form = DepartmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.department_update(actor=_user(request), department=dept, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Department saved."))
            return redirect("org:department_tree")
    return render(
        request, "org/department_form.html", {"form": form, "parent": dept.parent, "department": dept}
    )


@login_required
@require_http_methods(["GET", "POST"])
def department_move(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "org.department.manage")
    dept = _department_or_404(pk)
    _require(request, "org.department.manage", department=dept)
    form = DepartmentMoveForm(request.POST or None, department=dept, initial={"parent": dept.parent_id})
    if request.method == "POST" and form.is_valid():
        _require(request, "org.department.manage", department=form.cleaned_data["parent"])
        try:
            services.department_move(
                actor=_user(request), department=dept, new_parent=form.cleaned_data["parent"]
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Department moved."))
            return redirect("org:department_tree")
    return render(request, "org/department_move.html", {"form": form, "department": dept})


@login_required
@require_http_methods(["GET", "POST"])
def department_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "org.department.manage")
    dept = _department_or_404(pk)
    _require(request, "org.department.manage", department=dept)
    errors: list[str] = []
    if request.method == "POST":
        try:
            services.department_deactivate(actor=_user(request), department=dept)
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("Department deactivated."))
            return redirect("org:department_tree")
    return render(
        request,
        "org/department_deactivate.html",
        {"department": dept, "errors": errors},
        status=400 if errors else 200,
    )


@login_required
@require_POST
def department_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "org.department.manage")
    dept = _department_or_404(pk)
    _require(request, "org.department.manage", department=dept)
    try:
        services.department_reactivate(actor=_user(request), department=dept)
    except ValidationError as exc:
        return render(
            request,
            "org/department_deactivate.html",
            {"department": dept, "errors": exc.messages},
            status=400,
        )
    messages.success(request, _("Department reactivated."))
    return redirect("org:department_tree")


# --- staff ------------------------------------------------------------------------------------------


def _visible_staff_or_404(request: HttpRequest, pk: int) -> Staff:
    """A staff record the user may see (``org.staff.view`` scope, ``org.role.assign`` scope, or
    their own); otherwise 404, so ids of other departments reveal nothing."""
    staff = staff_get(user=request.user, pk=pk)
    if staff is None and has_perm(request.user, "org.role.assign"):
        staff = staff_list(user=request.user, scope_permission="org.role.assign").filter(pk=pk).first()
    if staff is None:
        raise Http404
    return staff


def _manageable_staff_or_404(request: HttpRequest, pk: int) -> Staff:
    staff = _visible_staff_or_404(request, pk)
    if not can_manage_staff(request.user, staff):
        raise PermissionDenied
    return staff


def _manageable_departments(request: HttpRequest) -> QuerySet[Department]:
    ids = [d.pk for d in active_departments() if has_perm(request.user, "org.staff.manage", department=d)]
    return active_departments().filter(pk__in=ids)


@login_required
@require_GET
def staff_list_view(request: HttpRequest) -> HttpResponse:
    if not (has_perm(request.user, "org.staff.view") or has_perm(request.user, "org.role.assign")):
        raise PermissionDenied
    form = StaffFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()
        filters = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    permission = "org.staff.view" if has_perm(request.user, "org.staff.view") else "org.role.assign"
    qs = staff_list(
        user=request.user,
        scope_permission=permission,
        search=filters.get("q", ""),
        department=filters.get("department"),
        title=filters.get("title", ""),
        status=filters.get("status", ""),
        role=filters.get("role", ""),
    )
    return render(
        request,
        "org/staff_list.html",
        {
            "form": form,
            "page": _page(request, qs),
            "query": _query_without_page(request),
            "may_manage": has_perm(request.user, "org.staff.manage"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def staff_create(request: HttpRequest) -> HttpResponse:
    _require(request, "org.staff.manage")
    departments = _manageable_departments(request)
    form = StaffCreateForm(request.POST or None, departments=departments)
    if request.method == "POST" and form.is_valid():
        try:
            staff = services.staff_create(actor=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Staff member %(name)s created.") % {"name": staff.name})
            return redirect("org:staff_detail", pk=staff.pk)
    return render(request, "org/staff_form.html", {"form": form, "staff": None})


@login_required
@require_GET
def staff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    staff = _visible_staff_or_404(request, pk)
    return _render_staff_detail(request, staff, RoleAssignForm())


def _render_staff_detail(
    request: HttpRequest, staff: Staff, role_form: RoleAssignForm, *, status: int = 200
) -> HttpResponse:
    assignments = RoleAssignment.objects.filter(staff=staff).select_related("role", "department")
    today = timezone.localdate()
    return render(
        request,
        "org/staff_detail.html",
        {
            "staff": staff,
            "show_private": can_view_private(request.user, staff),
            "may_manage": can_manage_staff(request.user, staff),
            "may_assign": has_perm(request.user, "org.role.assign", department=staff.department),
            "assignments": assignments,
            "role_form": role_form,
            "certificates": certificate_list_for_staff(user=request.user, staff=staff),
            "may_manage_certificates": can_manage_certificates(request.user, staff),
            "today": today,
            "soon": today + datetime.timedelta(days=CERTIFICATE_SOON_DAYS),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    staff = _manageable_staff_or_404(request, pk)
    departments = _manageable_departments(request)
    show_private = can_view_private(request.user, staff)
    initial = {name: getattr(staff, name) for name in services.STAFF_FIELDS}
    initial["department"] = staff.department_id
    form = StaffForm(request.POST or None, initial=initial, departments=departments)
    if not show_private:
        # Without the right to see them, the private fields are not shown, so not changed either.
        del form.fields["phone"]
        del form.fields["national_id"]
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_update(actor=_user(request), staff=staff, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("org:staff_detail", pk=staff.pk)
    return render(request, "org/staff_form.html", {"form": form, "staff": staff})


@login_required
@require_http_methods(["GET", "POST"])
def staff_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    staff = _manageable_staff_or_404(request, pk)
    form = StaffDeactivateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_deactivate(actor=_user(request), staff=staff, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("%(name)s deactivated.") % {"name": staff.name})
            return redirect("org:staff_detail", pk=staff.pk)
    return render(request, "org/staff_deactivate.html", {"form": form, "staff": staff})


@login_required
@require_POST
def staff_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    staff = _manageable_staff_or_404(request, pk)
    try:
        services.staff_reactivate(actor=_user(request), staff=staff)
    except ValidationError as exc:
        form = StaffDeactivateForm()
        apply_errors(form, exc)
        return render(request, "org/staff_deactivate.html", {"form": form, "staff": staff}, status=400)
    messages.success(request, _("%(name)s is employed again.") % {"name": staff.name})
    return redirect("org:staff_detail", pk=staff.pk)


# --- certificates -------------------------------------------------------------------------------


def _certificate_or_404(request: HttpRequest, pk: int) -> StaffCertificate:
    certificate = certificate_get_for_manage(user=request.user, pk=pk)
    if certificate is None:
        raise Http404
    return certificate


@login_required
@require_http_methods(["GET", "POST"])
def certificate_add(request: HttpRequest, pk: int) -> HttpResponse:
    staff = _visible_staff_or_404(request, pk)
    if not can_manage_certificates(request.user, staff):
        raise PermissionDenied
    form = CertificateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.certificate_add(actor=_user(request), staff=staff, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Certificate added."))
            return redirect(f"{reverse('org:staff_detail', args=[staff.pk])}#certificates")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "org/certificate_form.html",
        {"form": form, "staff": staff, "certificate": None},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def certificate_edit(request: HttpRequest, pk: int) -> HttpResponse:
    certificate = _certificate_or_404(request, pk)
    initial = {name: getattr(certificate, name) for name in services.CERTIFICATE_FIELDS}
    form = CertificateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.certificate_update(actor=_user(request), certificate=certificate, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(f"{reverse('org:staff_detail', args=[certificate.staff_id])}#certificates")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "staff": certificate.staff, "certificate": certificate}
    return render(request, "org/certificate_form.html", context, status=status)


@login_required
@require_POST
def certificate_remove(request: HttpRequest, pk: int) -> HttpResponse:
    certificate = _certificate_or_404(request, pk)
    services.certificate_remove(actor=_user(request), certificate=certificate)
    messages.success(request, _("Certificate removed."))
    return redirect(f"{reverse('org:staff_detail', args=[certificate.staff_id])}#certificates")


# --- roles ------------------------------------------------------------------------------------------


@login_required
@require_POST
def staff_role_assign(request: HttpRequest, pk: int) -> HttpResponse:
    staff = _visible_staff_or_404(request, pk)
    _require(request, "org.role.assign", department=staff.department)
    form = RoleAssignForm(request.POST)
    if form.is_valid():
        held_at = form.cleaned_data["department"]
        if form.cleaned_data["role"].scope == RoleScope.HOSPITAL:
            held_at = department_root()
        if held_at is not None:
            _require(request, "org.role.assign", department=held_at)
        try:
            services.role_assign(actor=_user(request), staff=staff, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Role assigned."))
            return redirect("org:staff_detail", pk=staff.pk)
    return _render_staff_detail(request, staff, form, status=400)


@login_required
@require_POST
def role_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = get_object_or_404(RoleAssignment.objects.select_related("staff__department"), pk=pk)
    staff = _visible_staff_or_404(request, assignment.staff_id)
    _require(request, "org.role.assign", department=staff.department)
    _require(request, "org.role.assign", department=assignment.department)
    try:
        services.role_revoke(actor=_user(request), assignment=assignment)
    except ValidationError as exc:
        form = RoleAssignForm()
        apply_errors(form, exc)
        return _render_staff_detail(request, staff, form, status=400)
    messages.success(request, _("Role revoked."))
    return redirect("org:staff_detail", pk=staff.pk)


@login_required
@require_GET
def role_list(request: HttpRequest) -> HttpResponse:
    _require(request, "org.role.assign")
    role_code = request.GET.get("role", "")
    qs = RoleAssignment.objects.select_related("staff", "role", "department").order_by(
        "role__code", "department__path", "staff__employee_no"
    )
    if role_code:
        qs = qs.filter(role__code=role_code)
    return render(
        request,
        "org/role_list.html",
        {
            "roles": Role.objects.order_by("code"),
            "role_code": role_code,
            "page": _page(request, qs),
            "query": _query_without_page(request),
        },
    )


# --- import -----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def staff_import(request: HttpRequest) -> HttpResponse:
    _require(request, "org.staff.manage")
    form = StaffImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {
        "form": form,
        "columns": IMPORT_COLUMNS,
        "max_rows": settings.MEDOA_IMPORT_MAX_ROWS,
        "max_kb": settings.MEDOA_IMPORT_MAX_BYTES // 1024,
        "problems": [],
    }
    if request.method == "POST" and form.is_valid():
        try:
            staff_file = read_staff_file(form.cleaned_data["file"])
        except ImportFileError as exc:
            form.add_error("file", str(exc.message))
            return render(request, "org/staff_import.html", context, status=400)
        rows, problems = check_staff_rows(actor=_user(request), staff_file=staff_file)
        if problems:
            context["problems"] = problems
            return render(request, "org/staff_import.html", context, status=400)
        try:
            created = services.staff_import(actor=_user(request), rows=rows)
        except ValidationError as exc:
            form.add_error(None, exc)
            return render(request, "org/staff_import.html", context, status=400)
        return render(request, "org/staff_import_done.html", {"created": created})
    return render(request, "org/staff_import.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def staff_import_template(request: HttpRequest) -> HttpResponse:
    _require(request, "org.staff.manage")
    if request.GET.get("format") == "csv":
        response = HttpResponse(template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="staff-import-template.csv"'
        return response
    response = HttpResponse(
        template_xlsx(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = 'attachment; filename="staff-import-template.xlsx"'
    return response


# --- directory and delegations ---------------------------------------------------------------------


@login_required
@require_GET
def directory(request: HttpRequest) -> HttpResponse:
    _require(request, "org.directory.view")
    form = DirectoryFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()
        filters = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    qs = staff_directory(user=request.user, search=filters.get("q", ""), department=filters.get("department"))
    return render(
        request,
        "org/directory.html",
        {"form": form, "page": _page(request, qs), "query": _query_without_page(request)},
    )


def _delegation_form(request: HttpRequest, data: Any = None) -> DelegationForm:
    principal = principal_of(request.user)
    me = principal.staff if principal is not None else None
    initial: dict[str, Any] = {"delegator": me.pk if me else None}
    now = timezone.localtime()
    initial["starts_at"] = now.replace(second=0, microsecond=0)
    return DelegationForm(
        data,
        initial=initial,
        delegators=delegators_for_user(user=request.user),
        delegates=staff_for_delegation_choice(user=request.user),
    )


@login_required
@require_http_methods(["GET", "POST"])
def delegation_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request.user)
    if principal is None or principal.staff is None:
        raise PermissionDenied
    form = _delegation_form(request, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.delegation_create(
                    actor=_user(request),
                    delegator=data["delegator"],
                    delegate=data["delegate"],
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                    process_keys=data["process_keys"],
                    reason=data["reason"],
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            except PermissionDenied:
                form.add_error("delegator", _("You may only delegate your own tasks."))
            else:
                messages.success(request, _("Delegation created."))
                return redirect("org:delegation_list")
        status = 400
    return _render_delegations(request, form, status=status)


def _render_delegations(
    request: HttpRequest, form: DelegationForm, *, errors: list[str] | None = None, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    rows = [(d, delegation_state(d, now)) for d in delegation_list_for_user(user=request.user)[:200]]
    principal = principal_of(request.user)
    return render(
        request,
        "org/delegation_list.html",
        {
            "form": form,
            "rows": rows,
            "me": principal.staff if principal else None,
            "errors": errors or [],
            "manages_others": has_perm(request.user, "org.delegation.manage"),
        },
        status=status,
    )


@login_required
@require_POST
def delegation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    delegation: Delegation | None = delegation_get(user=request.user, pk=pk)
    if delegation is None:
        raise Http404
    try:
        services.delegation_revoke(actor=_user(request), delegation=delegation)
    except ValidationError as exc:
        return _render_delegations(request, _delegation_form(request), errors=exc.messages, status=400)
    messages.success(request, _("Delegation revoked."))
    return redirect("org:delegation_list")
