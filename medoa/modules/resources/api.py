"""The bed board's REST API, mounted at /api/v1/resources (bearer tokens; every bed checked by
role and ward).

``GET /beds?ward=&status=`` — the beds the caller may see; status codes ``available``,
``occupied``, ``to_clean``, ``cleaning``, ``reserved``, ``out_of_service``. An occupied bed shows
its patient's initials to every reader, and ``mrn``, ``visit_number`` and ``attending`` to those
holding ``resources.beds.patient`` for the ward.
``GET /beds/{id}/history`` — the bed's last 50 changes.
``PUT /wards/{code}/settings`` — ``{"cleaning_minutes", "housekeeping_area"?}``: the ward's
cleaning time limit (5–1440 minutes) and housekeeping area (a department code), audited
(``resources.beds.settings``).
``POST /wards/{code}/beds`` — ``{"room", "codes", "bed_type"?}``: add beds (``codes`` like
``"01-06"`` or ``"01, 02, 12+"``; the room is made when new), all or nothing, audited; 409 naming
the codes the ward already has (``resources.beds.settings``).
``DELETE /beds/{id}`` — remove a free bed that never had a cleaning (409 otherwise), audited.
``POST /beds/{id}/status`` — ``{"status", "reason"}``: a manual change (reserve, out of service,
back to available, start or finish a cleaning), audited; 409 for a transition that is not allowed
(naming both statuses), 403 without the permission for it, 404 for a bed the caller cannot see,
422 with ``field`` for bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from medoa.core.access.policy import has_perm
from medoa.core.apierrors import in_both
from medoa.core.org.models import Department

from . import beds_admin, selectors, services
from .api_or import or_router
from .beds_choices import BedStatus
from .models import Bed, BedHistory

router = Router(tags=["resources"])
router.add_router("", or_router)  # operating rooms and equipment (role ORQ)
T = TypeVar("T")


def _error(exc: services.BedError) -> HttpError:
    status = 422 if exc.status == 400 else exc.status
    error = HttpError(status, exc.message)
    extra: dict[str, Any] = {}
    if exc.field:
        zh, en = in_both(exc.msgid, exc.params)
        extra["errors"] = [{"field": exc.field, "message": zh, "message_en": en, "type": "invalid"}]
    if extra:
        error.extra = extra  # type: ignore[attr-defined]
    return error


def _call(fn: Callable[..., T], **kwargs: Any) -> T:
    """``fn(**kwargs)``, its refusals as HTTP errors (``BedError`` with its status and field,
    ``PermissionDenied`` as 403)."""
    try:
        return fn(**kwargs)
    except services.BedError as exc:
        raise _error(exc) from None
    except PermissionDenied:
        raise HttpError(403, "Forbidden") from None


def bed_out(bed: Bed, *, patient: bool) -> dict[str, Any]:
    occupied = bed.status == BedStatus.OCCUPIED
    out: dict[str, Any] = {
        "id": bed.pk,
        "ward": bed.ward.code,
        "ward_name": bed.ward.name_zh,
        "room": bed.room.code,
        "bed": bed.code,
        "type": bed.bed_type,
        "status": bed.status,
        "status_since": bed.status_since.isoformat(),
        "note": bed.note,
        "patient_initials": bed.patient_initials if occupied else "",
    }
    if patient:
        out.update(
            {
                "mrn": bed.patient_mrn if occupied else "",
                "visit_number": bed.visit_number if occupied else "",
                "attending": bed.attending if occupied else "",
                "occupied_since": bed.occupied_since.isoformat() if occupied and bed.occupied_since else None,
            }
        )
    return out


def _history_out(row: BedHistory) -> dict[str, Any]:
    return {
        "at": row.at.isoformat(),
        "from": row.from_status,
        "to": row.to_status,
        "by": row.actor_name,
        "source": row.source,
        "reason": row.reason,
        "patient_initials": row.patient_initials,
    }


@router.get("/beds", summary="Beds by ward and status")
def beds_list(request: HttpRequest, ward: str = "", status: str = "") -> Any:
    if not has_perm(request.user, services.PERM_VIEW):
        raise HttpError(403, "Forbidden")
    beds = _call(selectors.bed_list, user=request.user, ward=ward or None, status=status or None)
    allowed = selectors.patient_visible_ids(request.user, beds)
    return {"count": len(beds), "beds": [bed_out(b, patient=b.pk in allowed) for b in beds]}


@router.get("/beds/{bed_id}/history", summary="A bed's last 50 changes")
def bed_history(request: HttpRequest, bed_id: int) -> Any:
    bed = _call(selectors.bed_get, user=request.user, pk=bed_id)
    return {
        "bed": bed.pk,
        "history": [_history_out(h) for h in selectors.bed_history(user=request.user, bed=bed)],
    }


class StatusIn(Schema):
    status: str
    reason: str = ""


@router.post("/beds/{bed_id}/status", summary="Change a bed's status by hand")
def bed_status(request: HttpRequest, bed_id: int, body: StatusIn) -> Any:
    bed = _call(
        services.bed_status_set, actor=request.user, bed=bed_id, status=body.status, reason=body.reason
    )
    bed = Bed.objects.select_related("ward", "room").get(pk=bed.pk)
    allowed = selectors.patient_visible_ids(request.user, [bed])
    return bed_out(bed, patient=bed.pk in allowed)


class WardSettingsIn(Schema):
    cleaning_minutes: int
    housekeeping_area: str = ""


@router.put("/wards/{ward_code}/settings", summary="A ward's cleaning time limit and housekeeping area")
def ward_settings_put(request: HttpRequest, ward_code: str, body: WardSettingsIn) -> Any:
    ward = _ward_or_404(request, ward_code)
    area = None
    if body.housekeeping_area:
        area = Department.objects.filter(code=body.housekeeping_area).first()
        if area is None:
            raise _error(
                services.BedError(_("There is no department with this code."), field="housekeeping_area")
            )
    row = _call(
        services.ward_settings_save,
        actor=request.user,
        ward=ward,
        cleaning_minutes=body.cleaning_minutes,
        housekeeping_area=area,
    )
    return {
        "ward": ward.code,
        "cleaning_minutes": row.cleaning_minutes,
        "housekeeping_area": area.code if area else "",
    }


class BedsIn(Schema):
    room: str
    codes: str
    bed_type: str = "standard"


def _ward_or_404(request: HttpRequest, ward_code: str) -> Department:
    ward = Department.objects.filter(code=ward_code).first()
    if ward is None or not (
        has_perm(request.user, services.PERM_VIEW, department=ward)
        or has_perm(request.user, services.PERM_SETTINGS, department=ward)
    ):
        raise HttpError(404, "Not found")
    return ward


@router.post("/wards/{ward_code}/beds", response={201: list[dict[str, Any]]}, summary="Add beds to a ward")
def beds_post(request: HttpRequest, ward_code: str, body: BedsIn) -> Any:
    ward = _ward_or_404(request, ward_code)
    made = _call(
        beds_admin.beds_add,
        actor=request.user,
        ward=ward,
        room=body.room,
        codes=body.codes,
        bed_type=body.bed_type,
    )
    return Status(
        201, [{"id": b.pk, "ward": ward.code, "room": body.room.strip(), "code": b.code} for b in made]
    )


@router.delete("/beds/{bed_id}", response={204: None}, summary="Remove a bed set up by mistake")
def bed_delete(request: HttpRequest, bed_id: int) -> Any:
    _call(beds_admin.bed_remove, actor=request.user, bed=bed_id)
    return Status(204, None)
