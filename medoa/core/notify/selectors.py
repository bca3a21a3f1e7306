"""Reading a user's inbox: only ever the caller's own notifications."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import Notification

CARD_LIMIT = 5


def notification_list_for_user(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first (only unread ones when ``unread_only``)."""
    qs = Notification.objects.filter(recipient=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs


def notification_unread_count(*, user: Any) -> int:
    """How many unread notifications the user has: one indexed COUNT query."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notification_latest_unread(*, user: Any, limit: int = CARD_LIMIT) -> list[Notification]:
    """The newest ``limit`` unread notifications (the workbench card): one query."""
    return list(notification_list_for_user(user=user, unread_only=True)[:limit])


def notification_get_for_user(*, user: Any, notification_id: int) -> Notification:
    """One of the user's own notifications; another user's id raises ``Notification.DoesNotExist``
    exactly as an unknown id does, so ids reveal nothing."""
    return Notification.objects.get(pk=notification_id, recipient=user)
