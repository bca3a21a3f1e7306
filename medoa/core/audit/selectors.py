"""Reads of the audit log. Only holders of ``audit.entry.view`` with the whole-hospital scope
(``audit_admin`` by default) see any of it; everyone else gets nothing."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from medoa.core.access.choices import DataScope
from medoa.core.access.policy import widest_scope

from .apps import VIEW_PERMISSION
from .models import AuditEntry

PAGE_SIZE = 50


def audit_log_visible_to(user: Any) -> bool:
    """The audit log is not departmental: only the whole-hospital scope opens it."""
    return widest_scope(user, VIEW_PERMISSION) == DataScope.ALL


@dataclass(frozen=True)
class EntryFilter:
    """What the viewer filters by; empty values filter nothing. ``time_before`` is exclusive."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    time_from: datetime.datetime | None = None
    time_before: datetime.datetime | None = None

    def q(self) -> Q:
        q = Q()
        if self.actor:
            q &= Q(actor_name=self.actor)
        if self.action:
            q &= Q(action__startswith=self.action)
        if self.target_type:
            q &= Q(target_type=self.target_type)
        if self.target_id:
            q &= Q(target_id=self.target_id)
        if self.outcome:
            q &= Q(outcome=self.outcome)
        if self.time_from is not None:
            q &= Q(at__gte=self.time_from)
        if self.time_before is not None:
            q &= Q(at__lt=self.time_before)
        return q

    def as_details(self) -> dict[str, str]:
        """The filters in use, for the "audit.viewed" entry."""
        values: dict[str, Any] = {
            "actor": self.actor,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "outcome": self.outcome,
            "time_from": self.time_from.isoformat() if self.time_from else "",
            "time_before": self.time_before.isoformat() if self.time_before else "",
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class EntryPage:
    """One page of entries, newest first, with keyset cursors to the neighbouring pages."""

    entries: list[AuditEntry] = field(default_factory=list)
    newer_after: int | None = None
    older_before: int | None = None


def audit_entry_queryset(*, user: Any) -> QuerySet[AuditEntry]:
    if not audit_log_visible_to(user):
        return AuditEntry.objects.none()
    return AuditEntry.objects.all()


def audit_entry_page(
    *,
    user: Any,
    filters: EntryFilter,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> EntryPage:
    """A page of matching entries: the newest ones, or those older than ``before``, or the page
    just newer than ``after``. Keyset paging on ``seq``: as fast on page 1000 as on page 1."""
    qs = audit_entry_queryset(user=user).filter(filters.q())
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: size + 1])
        has_newer = len(rows) > size
        entries = rows[:size][::-1]
        has_older = bool(entries) and qs.filter(seq__lt=entries[-1].seq).exists()
    else:
        qs_page = qs.filter(seq__lt=before) if before is not None else qs
        rows = list(qs_page.order_by("-seq")[: size + 1])
        has_older = len(rows) > size
        entries = rows[:size]
        has_newer = before is not None and bool(entries) and qs.filter(seq__gt=entries[0].seq).exists()
    return EntryPage(
        entries=entries,
        newer_after=entries[0].seq if entries and has_newer else None,
        older_before=entries[-1].seq if entries and has_older else None,
    )


def audit_entry_get(*, user: Any, seq: int) -> AuditEntry | None:
    return audit_entry_queryset(user=user).filter(seq=seq).first()


def audit_entry_neighbours(*, user: Any, seq: int) -> tuple[int | None, int | None]:
    """The sequence numbers just before and after ``seq`` (the chain has no gaps when intact)."""
    qs = audit_entry_queryset(user=user)
    previous = qs.filter(seq__lt=seq).order_by("-seq").values_list("seq", flat=True).first()
    following = qs.filter(seq__gt=seq).order_by("seq").values_list("seq", flat=True).first()
    return previous, following
