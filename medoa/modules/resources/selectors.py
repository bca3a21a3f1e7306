"""Reads of the bed board, narrowed by permission and data scope (the ward is the department)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm, scope_q
from medoa.core.org.models import Department

from .beds_choices import BedStatus
from .models import Bed, BedCleaning, BedHistory
from .services import OPEN_CLEANING, PERM_CLEAN, PERM_PATIENT, PERM_VIEW, BedError


def beds_visible(user: Any) -> QuerySet[Bed]:
    return Bed.objects.filter(scope_q(user, PERM_VIEW, department_field="ward"))


def wards_for(user: Any) -> list[Department]:
    """The wards with beds the user may see, in tree order."""
    ids = beds_visible(user).values("ward_id")
    return list(Department.objects.filter(pk__in=ids).order_by("path", "sort_order", "code"))


def _filters(ward: str | None, status: str | None) -> Q:
    q = Q()
    if ward:
        q &= Q(ward__code=ward)
    if status:
        q &= Q(status=status)
    return q


def check_filters(ward: str | None, status: str | None) -> None:
    if status and status not in BedStatus.values:
        raise BedError(
            _("Unknown status; use one of: %(choices)s."),
            {"choices": ", ".join(BedStatus.values)},
            field="status",
        )
    if ward and not Department.objects.filter(code=ward).exists():
        raise BedError(_("There is no ward with this code."), field="ward")


def bed_list(*, user: Any, ward: str | None = None, status: str | None = None) -> list[Bed]:
    """The beds the user may see (``ward``: a ward code, ``status``: a status code)."""
    check_filters(ward, status)
    return list(
        beds_visible(user)
        .filter(_filters(ward, status))
        .select_related("ward", "room")
        .order_by("ward__path", "ward__code", "room__sort_order", "room__code", "sort_order", "code")
    )


def patient_visible_ids(user: Any, beds: list[Bed]) -> set[int]:
    """The beds among ``beds`` whose occupant's MRN, visit number and attending ``user`` may see."""
    if not beds:
        return set()
    q = scope_q(user, PERM_PATIENT, department_field="ward")
    if q == Q(pk__in=[]):
        return set()
    return set(Bed.objects.filter(q, pk__in=[b.pk for b in beds]).values_list("pk", flat=True))


def board_etag(*, user: Any, ward: str | None = None, status: str | None = None) -> str:
    """A cheap fingerprint of what the board shows (one aggregate query)."""
    agg = (
        beds_visible(user)
        .filter(_filters(ward, status))
        .aggregate(n=Count("id"), r=Sum("revision"), t=Max("updated_at"), m=Max("id"))
    )
    raw = f"{agg['n']}:{agg['r']}:{agg['t']}:{agg['m']}:{has_perm(user, PERM_PATIENT)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def bed_get(*, user: Any, pk: int) -> Bed:
    bed = beds_visible(user).select_related("ward", "room").filter(pk=pk).first()
    if bed is None:
        raise BedError(_("There is no such bed."), status=404)
    return bed


def bed_history(*, user: Any, bed: Bed, limit: int = 50) -> list[BedHistory]:
    return list(BedHistory.objects.filter(bed=bed).select_related("actor").order_by("-id")[:limit])


@dataclass(frozen=True)
class BoardWard:
    ward: Department
    beds: list[Bed]
    counts: dict[str, int]


def board(*, user: Any, ward: str | None = None, status: str | None = None) -> list[BoardWard]:
    beds = bed_list(user=user, ward=ward, status=status)
    out: dict[int, BoardWard] = {}
    for bed in beds:
        entry = out.get(bed.ward_id)
        if entry is None:
            entry = out[bed.ward_id] = BoardWard(
                ward=bed.ward, beds=[], counts=dict.fromkeys(BedStatus.values, 0)
            )
        entry.beds.append(bed)
        entry.counts[bed.status] += 1
    return list(out.values())


def cleanings_open(*, user: Any) -> list[BedCleaning]:
    """The open cleanings of the wards the user cleans, the oldest first."""
    return list(
        BedCleaning.objects.filter(
            scope_q(user, PERM_CLEAN, department_field="ward"), status__in=OPEN_CLEANING
        )
        .select_related("bed", "bed__room", "ward", "started_by")
        .order_by("due_at", "id")
    )


def cleaning_open_for_bed(bed: Bed) -> BedCleaning | None:
    return BedCleaning.objects.filter(bed=bed, status__in=OPEN_CLEANING).order_by("-id").first()
