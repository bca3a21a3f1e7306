"""The bed board's pages: the board (grid per ward, live by polling a cheap ETag endpoint), a bed's
history drawer, its QR page, the cleaner's phone pages, and the HIS simulator (admins, it)."""

from __future__ import annotations

from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from medoa.core.access.policy import has_perm

from . import selectors, services
from .beds_choices import BedStatus, BedType
from .models import Bed
from .simulate import describe, mllp_host, mllp_port, simulate
from .views_admin import setup_wards

STATUS_CLASSES = {s: f"bed-{s.replace('_', '-')}" for s in BedStatus.values}


def _filters(request: HttpRequest) -> tuple[str, str]:
    ward = (request.GET.get("ward") or "").strip()[:32]
    status = (request.GET.get("status") or "").strip()[:20]
    try:
        selectors.check_filters(ward, status)
    except services.BedError:
        return "", ""
    return ward, status


def _cell(bed: Bed, patient: bool) -> dict[str, Any]:
    occupied = bed.status == BedStatus.OCCUPIED
    return {
        "id": bed.pk,
        "status": bed.status,
        "label": str(BedStatus(bed.status).label),
        "initials": bed.patient_initials if occupied else "",
        "attending": bed.attending if occupied and patient else "",
        "note": bed.note,
    }


@login_required
@require_GET
def bed_board(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, services.PERM_VIEW):
        raise PermissionDenied
    ward, status = _filters(request)
    wards = selectors.board(user=request.user, ward=ward or None, status=status or None)
    setup = setup_wards(request.user)
    context = {
        "wards": wards,
        "ward_choices": selectors.wards_for(request.user),
        "status_choices": BedStatus.choices,
        "ward": ward,
        "status": status,
        "status_classes": STATUS_CLASSES,
        "types": dict(BedType.choices),
        "etag": selectors.board_etag(user=request.user, ward=ward or None, status=status or None),
        "state_url": reverse("resources:bed_board_state"),
        "setup_choices": setup,
        "setup_wards": {w.code for w in setup},
    }
    return render(request, "resources/bed_board.html", context)


@login_required
@require_GET
def bed_board_state(request: HttpRequest) -> HttpResponse:
    """The board's live state: 304 while nothing changed (``If-None-Match``), else every visible
    bed's status and initials (the page updates its cells in place)."""
    if not has_perm(request.user, services.PERM_VIEW):
        raise PermissionDenied
    ward, status = _filters(request)
    etag = selectors.board_etag(user=request.user, ward=ward or None, status=status or None)
    quoted = f'"{etag}"'
    if request.headers.get("If-None-Match") == quoted:
        response = HttpResponse(status=304)
        response["ETag"] = quoted
        return response
    beds = selectors.bed_list(user=request.user, ward=ward or None, status=status or None)
    allowed = selectors.patient_visible_ids(request.user, beds)
    counts: dict[str, int] = dict.fromkeys(BedStatus.values, 0)
    for bed in beds:
        counts[bed.status] += 1
    response = JsonResponse(
        {"etag": etag, "counts": counts, "beds": [_cell(b, b.pk in allowed) for b in beds]}
    )
    response["ETag"] = quoted
    return response


def _bed(request: HttpRequest, pk: int) -> Bed:
    try:
        return selectors.bed_get(user=request.user, pk=pk)
    except services.BedError:
        raise Http404 from None


@login_required
@require_GET
def bed_history(request: HttpRequest, pk: int) -> HttpResponse:
    bed = _bed(request, pk)
    patient = bool(selectors.patient_visible_ids(request.user, [bed]))
    context = {
        "bed": bed,
        "patient": patient,
        "history": selectors.bed_history(user=request.user, bed=bed),
        "status_classes": STATUS_CLASSES,
        "can_reserve": has_perm(request.user, services.PERM_RESERVE, department=bed.ward),
        "can_maintain": has_perm(request.user, services.PERM_MAINTAIN, department=bed.ward),
        "can_clean": has_perm(request.user, services.PERM_CLEAN, department=bed.ward),
    }
    return render(request, "resources/_bed_history.html", context)


@login_required
@require_http_methods(["POST"])
def bed_status(request: HttpRequest, pk: int) -> HttpResponse:
    bed = _bed(request, pk)
    try:
        services.bed_status_set(
            actor=request.user,
            bed=bed,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
    except services.BedError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Bed %(bed)s updated.") % {"bed": bed.code})
    return redirect(f"{reverse('resources:bed_board')}?ward={bed.ward.code}")


@login_required
@require_GET
def bed_qr(request: HttpRequest, pk: int) -> HttpResponse:
    bed = _bed(request, pk)
    url = request.build_absolute_uri(reverse("resources:bed_clean", args=[bed.pk]))
    svg = segno.make(url, error="m").svg_inline(scale=6, dark="#000", light="#fff")
    return render(request, "resources/bed_qr.html", {"bed": bed, "url": url, "svg": svg})


@login_required
@require_http_methods(["GET", "POST"])
def bed_clean(request: HttpRequest, pk: int) -> HttpResponse:
    """The page a cleaner's phone opens from the bed's QR code: start, then finish."""
    bed = _bed(request, pk)
    if not has_perm(request.user, services.PERM_CLEAN, department=bed.ward):
        raise PermissionDenied
    cleaning = selectors.cleaning_open_for_bed(bed)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if cleaning is None:
                raise services.BedConflict(_("No cleaning is waiting for this bed."))
            if action == "start":
                services.cleaning_start(actor=request.user, cleaning=cleaning)
                messages.success(request, _("Cleaning started."))
            elif action == "finish":
                services.cleaning_finish(actor=request.user, cleaning=cleaning)
                messages.success(request, _("Cleaning finished: the bed is available."))
            else:
                raise services.BedError(_("Choose start or finish."), field="action")
        except services.BedError as exc:
            messages.error(request, exc.message)
        back = request.POST.get("next", "")
        if back == "list":
            return redirect("resources:cleaning_list")
        return redirect("resources:bed_clean", pk=bed.pk)
    bed.refresh_from_db()
    return render(
        request,
        "resources/bed_clean.html",
        {"bed": bed, "cleaning": cleaning, "status_classes": STATUS_CLASSES},
    )


@login_required
@require_GET
def cleaning_list(request: HttpRequest) -> HttpResponse:
    if not has_perm(request.user, services.PERM_CLEAN):
        raise PermissionDenied
    return render(
        request,
        "resources/cleaning_list.html",
        {"cleanings": selectors.cleanings_open(user=request.user), "status_classes": STATUS_CLASSES},
    )


@login_required
@require_http_methods(["GET", "POST"])
def simulate_page(request: HttpRequest) -> HttpResponse:
    """The demo HIS simulator (it, sys_admin): send discharges and critical results through MLLP."""
    if not has_perm(request.user, services.PERM_SIMULATE):
        raise PermissionDenied
    lines: list[str] = []
    errors: dict[str, str] = {}
    values = {"discharges": "1", "critical": "1", "port": str(mllp_port())}
    if request.method == "POST":
        values = {k: (request.POST.get(k) or "").strip() for k in values}
        numbers: dict[str, int] = {}
        for key, top in (("discharges", 50), ("critical", 50), ("port", 65535)):
            try:
                numbers[key] = int(values[key])
            except ValueError:
                errors[key] = _("Enter a whole number.")
                continue
            if not 0 <= numbers[key] <= top:
                errors[key] = _("Enter a number from 0 to %(max)s.") % {"max": top}
        if not errors:
            try:
                sent = simulate(
                    discharges=numbers["discharges"],
                    critical=numbers["critical"],
                    host=mllp_host(),
                    port=numbers["port"] or mllp_port(),
                )
            except OSError as exc:
                errors["port"] = _("Cannot reach the MLLP listener: %(error)s") % {"error": exc}
            else:
                lines = describe(sent) or [_("No occupied demo bed to use: load the demo first.")]
    return render(
        request,
        "resources/simulate.html",
        {"lines": lines, "errors": errors, "values": values},
        status=422 if errors else 200,
    )
