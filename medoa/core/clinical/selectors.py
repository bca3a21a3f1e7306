"""Reads of the clinical mirror, narrowed by the reader's data scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied

from medoa.core.access.choices import DataScope
from medoa.core.access.policy import has_perm, widest_scope
from medoa.core.org.models import Department

from .choices import EncounterStatus
from .models import Encounter

PERM_PATIENT_VIEW = "clinical.patient.view"


@dataclass
class WardCensus:
    code: str
    department: Department | None
    encounters: list[Encounter] = field(default_factory=list)


def inpatients_by_ward(*, user: Any, ward: str = "") -> list[WardCensus]:
    """The admitted patients per ward the user may see (a head nurse: her wards; the hospital-wide
    roles: every ward), ordered by ward and bed. Encounters carry their patient (initials)."""
    if not has_perm(user, PERM_PATIENT_VIEW):
        raise PermissionDenied
    qs = Encounter.objects.filter(status=EncounterStatus.ADMITTED).select_related("patient")
    if ward:
        qs = qs.filter(ward_code=ward)
    qs = qs.only(
        "ward_code",
        "room_code",
        "bed_code",
        "visit_number",
        "admitted_at",
        "attending_doctor",
        "department_code",
        "patient__initials",
        "patient__sex",
    ).order_by("ward_code", "bed_code", "id")
    encounters = list(qs[:5000])
    codes = {e.ward_code for e in encounters}
    departments = {d.code: d for d in Department.objects.filter(code__in=codes)}
    # encounters without a known ward are shown only to hospital-wide readers
    hospital_wide = widest_scope(user, PERM_PATIENT_VIEW) == DataScope.ALL
    allowed: dict[str, bool] = {}
    census: dict[str, WardCensus] = {}
    for enc in encounters:
        dept = departments.get(enc.ward_code)
        if enc.ward_code not in allowed:
            allowed[enc.ward_code] = (
                hospital_wide if dept is None else has_perm(user, PERM_PATIENT_VIEW, department=dept)
            )
        if allowed[enc.ward_code]:
            census.setdefault(enc.ward_code, WardCensus(enc.ward_code, dept)).encounters.append(enc)
    return list(census.values())
