"""Reads of the HL7 message store, the MLLP allow-list and the code mapping tables, for holders of
``integration.message.view`` / ``.manage`` and ``clinical.code_mapping.manage`` (hospital-wide:
the permission is the whole check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from medoa.core.access.policy import has_perm
from medoa.core.clinical.models import CodeMapping, UnmappedCode

from .models import Message, MessageStatus, Sender

PERM_VIEW = "integration.message.view"
PERM_MANAGE = "integration.message.manage"
PERM_MAPPING = "clinical.code_mapping.manage"


def require(user: Any, code: str) -> None:
    if not has_perm(user, code):
        raise PermissionDenied


@dataclass(frozen=True)
class MessageFilter:
    type: str = ""  # ADT, or ADT^A01
    sender: str = ""  # part of MSH-3 or MSH-4
    patient_id: str = ""
    status: str = ""
    since: datetime | None = None
    until: datetime | None = None
    control_id: str = ""


def message_list(*, user: Any, filters: MessageFilter = MessageFilter()) -> QuerySet[Message]:
    """Messages newest first (``raw`` deferred)."""
    require(user, PERM_VIEW)
    qs = Message.objects.defer("raw", "raw_bytes", "ack")
    kind = filters.type.strip().upper()
    if kind:
        mtype, _, trigger = kind.partition("^")
        qs = qs.filter(message_type=mtype)
        if trigger:
            qs = qs.filter(trigger_event=trigger)
    if filters.sender.strip():
        s = filters.sender.strip()
        qs = qs.filter(Q(sending_application__icontains=s) | Q(sending_facility__icontains=s))
    if filters.patient_id.strip():
        qs = qs.filter(patient_id=filters.patient_id.strip())
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.control_id.strip():
        qs = qs.filter(control_id=filters.control_id.strip())
    if filters.since is not None:
        qs = qs.filter(received_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(received_at__lt=filters.until)
    return qs.order_by("-id")


def message_get(*, user: Any, message_id: int) -> Message:
    require(user, PERM_VIEW)
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        raise Http404
    return message


def sender_counters(*, user: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per sending application and facility: messages in the last hour and the last day, and how
    many of the day's are not processed (unmapped, error, rejected)."""
    require(user, PERM_VIEW)
    now = now or timezone.now()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    problems = [MessageStatus.UNMAPPED, MessageStatus.ERROR, MessageStatus.REJECTED]
    rows = (
        Message.objects.filter(received_at__gte=day)
        .values("sending_application", "sending_facility")
        .annotate(
            day=Count("id"),
            hour=Count("id", filter=Q(received_at__gte=hour)),
            problems=Count("id", filter=Q(status__in=problems)),
            waiting=Count("id", filter=Q(status=MessageStatus.RECEIVED)),
        )
        .order_by("-day", "sending_application", "sending_facility")
    )
    return [dict(r) for r in rows[:100]]


ATTENTION = (MessageStatus.RECEIVED, MessageStatus.UNMAPPED, MessageStatus.ERROR)


def status_counts(*, user: Any) -> dict[str, int]:
    """How many messages wait (received), are parked (unmapped) or failed (error): the statuses
    that need attention, counted through the (status, id) index — never the whole store."""
    require(user, PERM_VIEW)
    counts = dict(
        Message.objects.filter(status__in=ATTENTION).values_list("status").annotate(n=Count("id")).order_by()
    )
    return {status.value: counts.get(status.value, 0) for status in ATTENTION}


def sender_list(*, user: Any) -> QuerySet[Sender]:
    require(user, PERM_MANAGE)
    return Sender.objects.order_by("name", "id")


def sender_get(*, user: Any, sender_id: int) -> Sender:
    require(user, PERM_MANAGE)
    sender = Sender.objects.filter(pk=sender_id).first()
    if sender is None:
        raise Http404
    return sender


def mapping_list(*, user: Any, kind: str = "", facility: str = "", q: str = "") -> QuerySet[CodeMapping]:
    require(user, PERM_MAPPING)
    qs = CodeMapping.objects.select_related("updated_by")
    if kind:
        qs = qs.filter(kind=kind)
    if facility:
        qs = qs.filter(facility=facility)
    if q.strip():
        qs = qs.filter(Q(external_code__icontains=q.strip()) | Q(internal_code__icontains=q.strip()))
    return qs.order_by("kind", "facility", "external_code")


def mapping_get(*, user: Any, mapping_id: int) -> CodeMapping:
    require(user, PERM_MAPPING)
    mapping = CodeMapping.objects.filter(pk=mapping_id).first()
    if mapping is None:
        raise Http404
    return mapping


def unmapped_suggestions(*, user: Any) -> list[dict[str, Any]]:
    """The codes parked messages are waiting for, most recent first, with how many messages wait."""
    require(user, PERM_MAPPING)
    codes = list(UnmappedCode.objects.order_by("-last_seen")[:200])
    waiting: dict[str, int] = {}
    for reason in Message.objects.filter(
        status=MessageStatus.UNMAPPED, status_reason__startswith="unmapped:"
    ).values_list("status_reason", flat=True)[:20000]:
        head = reason.split("\n", 1)[0]
        waiting[head] = waiting.get(head, 0) + 1
    out = []
    for c in codes:
        out.append(
            {
                "kind": c.kind,
                "kind_label": c.get_kind_display(),
                "facility": c.facility,
                "code": c.code,
                "occurrences": c.occurrences,
                "last_seen": c.last_seen,
                "last_source": c.last_source,
                "waiting": waiting.get(f"unmapped:{c.kind}:{c.facility}:{c.code}", 0),
            }
        )
    return out
