"""Reads of the FHIR submission store, for holders of ``integration.message.view`` (hospital-wide:
the permission is the whole check, as for the HL7 message store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from medoa.core.access.policy import has_perm

from .models import Submission
from .services import PERM_VIEW


@dataclass(frozen=True)
class SubmissionFilter:
    status: str = ""
    resource_type: str = ""
    patient_id: str = ""
    facility: str = ""
    top_level: bool = False


def _require_view(user: Any) -> None:
    if not has_perm(user, PERM_VIEW):
        raise PermissionDenied


def submission_list(*, user: Any, filters: SubmissionFilter = SubmissionFilter()) -> QuerySet[Submission]:
    _require_view(user)
    qs = Submission.objects.select_related("api_key", "bundle")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.resource_type:
        qs = qs.filter(resource_type=filters.resource_type)
    if filters.patient_id:
        qs = qs.filter(patient_id=filters.patient_id)
    if filters.facility:
        qs = qs.filter(facility=filters.facility)
    if filters.top_level:
        qs = qs.filter(bundle__isnull=True)
    return qs.defer("raw").order_by("-id")


def submission_get(*, user: Any, submission_id: int) -> Submission:
    _require_view(user)
    submission = Submission.objects.select_related("api_key", "bundle").filter(pk=submission_id).first()
    if submission is None:
        raise Http404
    return submission


def submission_counts(*, user: Any, hours: int = 24) -> dict[str, int]:
    """Submissions per status over the last ``hours``."""
    _require_view(user)
    since = timezone.now() - timedelta(hours=hours)
    rows = Submission.objects.filter(received_at__gte=since).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


@dataclass(frozen=True)
class SenderCounts:
    facility: str
    last_hour: int
    last_day: int
    refused_last_day: int


def sender_counts(*, user: Any) -> list[SenderCounts]:
    """Per sending system: what it sent in the last hour and day (resources and Bundles, not their
    entries), and how much of the day's was rejected or failed — one query."""
    _require_view(user)
    now = timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    rows = (
        Submission.objects.filter(received_at__gte=day, bundle__isnull=True)
        .values("facility")
        .annotate(
            last_hour=Count("id", filter=Q(received_at__gte=hour)),
            last_day=Count("id"),
            refused=Count("id", filter=Q(status__in=("rejected", "error"))),
        )
        .order_by("facility")
    )
    return [SenderCounts(r["facility"], r["last_hour"], r["last_day"], r["refused"]) for r in rows]
