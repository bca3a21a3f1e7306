"""REST endpoints of the inbox (mounted at /api/v1/notifications by medoa.api.api).

Every endpoint works on the caller's own notifications only; another user's id answers 404,
exactly like an id that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from .models import Notification
from .selectors import notification_get_for_user, notification_list_for_user, notification_unread_count
from .services import AckRefused, notification_ack, notification_mark_read

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    link: str = Field(description="a path on this site, or empty")
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    urgent: bool
    requires_ack: bool = Field(description="the recipient must acknowledge receipt (确认收到)")
    ack_by: datetime | None = Field(description="acknowledge before this time, or it is escalated")
    acked_at: datetime | None
    escalated_at: datetime | None

    @staticmethod
    def resolve_link(obj: Notification) -> str:
        return obj.safe_link


class NotificationPage(Schema):
    count: int = Field(description="notifications matching the filter")
    unread: int = Field(description="all unread notifications of the caller")
    items: list[NotificationOut]


class NotificationFilter(Schema):
    unread: bool = Field(False, description="only unread notifications")
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)


class MarkedOut(Schema):
    marked: int


@router.get("", response=NotificationPage, summary="List my notifications, newest first")
def notifications_list(request: HttpRequest, filters: Query[NotificationFilter]) -> dict[str, Any]:
    qs = notification_list_for_user(user=request.user, unread_only=filters.unread)
    return {
        "count": qs.count(),
        "unread": notification_unread_count(user=request.user),
        "items": list(qs[filters.offset : filters.offset + filters.limit]),
    }


@router.post("/{notification_id}/read", response=NotificationOut, summary="Mark one notification read")
def notification_read(request: HttpRequest, notification_id: int) -> Notification:
    try:
        notification = notification_get_for_user(user=request.user, notification_id=notification_id)
    except Notification.DoesNotExist:
        raise HttpError(404, _("Notification not found.")) from None
    notification_mark_read(user=request.user, ids=[notification.pk])
    notification.refresh_from_db(fields=["read_at"])
    return notification


@router.post("/read-all", response=MarkedOut, summary="Mark all my notifications read")
def notifications_read_all(request: HttpRequest) -> dict[str, int]:
    return {"marked": notification_mark_read(user=request.user)}


@router.post(
    "/{notification_id}/ack",
    response=NotificationOut,
    summary="Acknowledge receipt of a notification (确认收到)",
    description="Only for notifications that ask for it; a second acknowledgement keeps the first time.",
)
def notification_acknowledge(request: HttpRequest, notification_id: int) -> Notification:
    try:
        notification = notification_get_for_user(user=request.user, notification_id=notification_id)
        return notification_ack(user=request.user, notification=notification)
    except Notification.DoesNotExist:
        raise HttpError(404, _("Notification not found.")) from None
    except AckRefused:
        raise HttpError(400, _("This notification does not ask for an acknowledgement.")) from None
