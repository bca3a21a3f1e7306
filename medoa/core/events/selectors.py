"""Reads of the event log, for holders of ``events.view`` (events are hospital-wide: no data scope
narrows them, the permission is the whole check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from medoa.core.access.policy import has_perm

from .choices import DeliveryStatus
from .models import Delivery, Event
from .services import PERM_VIEW


@dataclass(frozen=True)
class EventFilter:
    type: str = ""  # a full name, or a prefix ending in ".*"
    status: str = ""  # events with at least one delivery in this status
    since: datetime | None = None
    until: datetime | None = None
    key: str = ""


def _require_view(user: Any) -> None:
    if not has_perm(user, PERM_VIEW):
        raise PermissionDenied


def event_list(*, user: Any, filters: EventFilter = EventFilter()) -> QuerySet[Event]:
    """Events newest first, with a count of their deliveries per status
    (``n_pending``, ``n_delivered``, ``n_failed``, ``n_dead``)."""
    _require_view(user)
    qs = Event.objects.all()
    if filters.type.endswith(".*"):
        qs = qs.filter(type__startswith=filters.type[:-1])
    elif filters.type:
        qs = qs.filter(type=filters.type)
    if filters.since is not None:
        qs = qs.filter(created_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(created_at__lt=filters.until)
    if filters.key:
        qs = qs.filter(key=filters.key)
    if filters.status:
        qs = qs.filter(Exists(Delivery.objects.filter(event=OuterRef("pk"), status=filters.status)))
    counts = {
        f"n_{status.value}": Count("deliveries", filter=Q(deliveries__status=status.value))
        for status in DeliveryStatus
    }
    return qs.annotate(**counts).order_by("-id")


def event_get(*, user: Any, event_id: int) -> Event:
    """One event with its deliveries (``Http404`` when there is none)."""
    _require_view(user)
    event = (
        Event.objects.filter(pk=event_id)
        .prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("id")))
        .first()
    )
    if event is None:
        raise Http404
    return event


def delivery_get(*, user: Any, delivery_id: int) -> Delivery:
    _require_view(user)
    delivery = Delivery.objects.select_related("event").filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    return delivery
