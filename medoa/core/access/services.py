"""Write use cases of access: ending sessions, revoking tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from .models import ApiToken, UserSession


@transaction.atomic
def user_sessions_end(*, user: Any, revoke_tokens: bool = False, keep_session_key: str | None = None) -> int:
    """End every browser session of ``user`` (except ``keep_session_key``); optionally revoke
    every API token too (deactivation does). Returns the number of sessions ended."""
    live = UserSession.objects.filter(user=user)
    if keep_session_key:
        live = live.exclude(session_key=keep_session_key)
    keys = list(live.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    live.delete()
    if revoke_tokens:
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return len(keys)
