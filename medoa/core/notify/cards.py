"""The notification centre's workbench card: the newest unread notifications."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import CARD_LIMIT, notification_latest_unread


def my_notifications_card(request: HttpRequest) -> dict[str, Any]:
    """Context of ``notify/card_notifications.html``: the newest unread notifications (one query)."""
    return {"notifications": notification_latest_unread(user=request.user, limit=CARD_LIMIT)}
