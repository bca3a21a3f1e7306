"""The notification centre's workbench card: the newest unread notifications.

The card and the top bar's unread badge share one query per request: the card's query counts
every unread notification alongside the newest few (a window count), and
``unread_count_for_request`` hands that count to the badge.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Window
from django.http import HttpRequest
from django.urls import reverse

from .models import Notification
from .selectors import CARD_LIMIT, notification_list_for_user, notification_unread_count

# The request attribute that carries the unread count once this request has counted.
UNREAD_COUNT_ATTR = "_medoa_unread_count"
# A notification id that no real row has, replaced in the reversed URL by each row's id: one
# ``reverse`` per card instead of two per row.
_ID_PLACEHOLDER = 2_147_483_647


def unread_count_for_request(request: HttpRequest) -> int:
    """The signed-in user's unread count: one COUNT query, or none when this request's card
    already counted."""
    count: int | None = getattr(request, UNREAD_COUNT_ATTR, None)
    if count is None:
        count = notification_unread_count(user=request.user)
        setattr(request, UNREAD_COUNT_ATTR, count)
    return count


def my_notifications_card(request: HttpRequest) -> dict[str, Any]:
    """Context of ``notify/card_notifications.html``: the newest unread notifications, each with
    its mark-read URL (``read_url``), and the unread count for the badge — one query."""
    rows: list[Any] = list(
        notification_list_for_user(user=request.user, unread_only=True).annotate(
            unread_total=Window(Count("pk"))
        )[:CARD_LIMIT]
    )
    setattr(request, UNREAD_COUNT_ATTR, rows[0].unread_total if rows else 0)
    pattern = reverse("notify:notification_read", args=[_ID_PLACEHOLDER])
    for row in rows:
        row.read_url = pattern.replace(str(_ID_PLACEHOLDER), str(row.pk))
    notifications: list[Notification] = rows
    return {"notifications": notifications}
