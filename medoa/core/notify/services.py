"""Sending and reading in-app notifications."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import Notification


@transaction.atomic(savepoint=False)  # one bulk insert: it succeeds or fails the caller's change
def notification_send(
    *,
    recipients: Iterable[Any],
    title: str,
    body: str = "",
    link: str = "",
    kind: str = "info",
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """Put one notification in each recipient's inbox (duplicates in ``recipients`` collapse).

    ``link`` should be a path on this site (``/approvals/12/``); the inbox shows no other link.
    """
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(
            Notification(
                recipient=user, kind=kind, title=title[:200], body=body, link=link[:500], data=data or {}
            )
        )
    return Notification.objects.bulk_create(rows)


@transaction.atomic
def notification_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's unread notifications read (all of them when ``ids`` is ``None``).

    Only the user's own notifications change, whatever ids are given; returns how many changed.
    """
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[int(i) for i in ids])
    return qs.update(read_at=timezone.now())
