"""病区床位设置: a ward's rooms and beds (add a range, remove one set up by mistake) and its
cleaning settings, for whoever holds ``resources.beds.settings`` for the ward."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from medoa.core.access.policy import has_perm
from medoa.core.org.choices import DepartmentKind
from medoa.core.org.models import Department

from . import beds_admin, services
from .beds_choices import BedType
from .models import Room


def setup_wards(user: Any) -> list[Department]:
    """The wards whose beds ``user`` may set up, in tree order."""
    wards = Department.objects.filter(kind=DepartmentKind.WARD).order_by("path", "sort_order", "code")
    return [w for w in wards if has_perm(user, services.PERM_SETTINGS, department=w)]


@login_required
@require_GET
def ward_beds_pick(request: HttpRequest) -> HttpResponse:
    """The bed board's "set up beds" picker (a GET form): on to the chosen ward's page."""
    return redirect(reverse("resources:ward_beds", args=[_ward(request, request.GET.get("ward", "")).code]))


def _ward(request: HttpRequest, code: str) -> Department:
    ward = Department.objects.filter(code=code).first()
    if ward is None or not has_perm(request.user, services.PERM_SETTINGS, department=ward):
        raise Http404
    return ward


def _post(request: HttpRequest, ward: Department) -> tuple[str, dict[str, str]]:
    """Apply the form's action; returns the message of a refusal ("" when done) and the input."""
    action = request.POST.get("action", "")
    data = {k: request.POST.get(k, "") for k in ("room", "codes", "bed_type", "cleaning_minutes", "area")}
    try:
        if action == "add":
            made = beds_admin.beds_add(
                actor=request.user,
                ward=ward,
                room=data["room"],
                codes=data["codes"],
                bed_type=data["bed_type"],
            )
            messages.success(request, _("%(n)s beds added.") % {"n": len(made)})
        elif action == "remove":
            beds_admin.bed_remove(actor=request.user, bed=int(request.POST.get("bed") or 0))
            messages.success(request, _("The bed was removed."))
        elif action == "settings":
            try:
                minutes = int(data["cleaning_minutes"])
            except ValueError:
                raise services.BedError(
                    _("The time limit must be 5 to 1440 minutes."), field="cleaning_minutes"
                ) from None
            area = Department.objects.filter(code=data["area"]).first() if data["area"] else None
            if data["area"] and area is None:
                raise services.BedError(
                    _("There is no department with this code."), field="housekeeping_area"
                )
            services.ward_settings_save(
                actor=request.user, ward=ward, cleaning_minutes=minutes, housekeeping_area=area
            )
            messages.success(request, _("Settings saved."))
        else:
            raise services.BedError(_("Unknown action."))
    except services.BedError as exc:
        return str(exc.message), data
    except PermissionDenied:
        raise
    return "", data


@login_required
@require_http_methods(["GET", "POST"])
def ward_beds(request: HttpRequest, code: str) -> HttpResponse:
    ward = _ward(request, code)
    error, data = (
        "",
        {"bed_type": BedType.STANDARD, "room": "", "codes": "", "cleaning_minutes": "", "area": ""},
    )
    if request.method == "POST":
        error, data = _post(request, ward)
        if not error:
            return redirect(reverse("resources:ward_beds", args=[ward.code]))
    settings_row = services.ward_settings(ward)
    rooms = Room.objects.filter(ward=ward).prefetch_related("beds").order_by("sort_order", "code")
    context: dict[str, Any] = {
        "ward": ward,
        "rooms": rooms,
        "bed_count": sum(len(r.beds.all()) for r in rooms),
        "settings": settings_row,
        "area_code": settings_row.housekeeping_area.code if settings_row.housekeeping_area else "",
        "bed_types": BedType.choices,
        "error": error,
        "data": data,
    }
    return render(request, "resources/ward_beds.html", context, status=422 if error else 200)
